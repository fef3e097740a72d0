package recipes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/arbor-coord/arbor/client"
)

// maxSetAttempts bounds SetConfig's alternation between Set and Create
// when other clients keep deleting and creating the node under it.
const maxSetAttempts = 8

// ConfigUpdate is one change of a watched configuration value.
type ConfigUpdate[T any] struct {
	// Value is the new value (the zero value when Deleted or Err is set).
	Value T
	// Version is the node's data version of this value (or of the data
	// that did not decode).
	Version int32
	// Zxid is the zxid of the change: the node's Mzxid, or for a deletion
	// the zxid its event carried. It only grows from one update to the
	// next.
	Zxid int64
	// Deleted reports that the node is gone: there is no value.
	Deleted bool
	// Err is set when the node's data does not decode as a T. It is
	// reported, not fatal: the watch goes on and Value keeps the last
	// value that decoded.
	Err error
}

// Config is a typed configuration value kept as JSON in one node and
// watched: Value is the latest value seen, Updates the changes in order.
//
// Every change is seen in order; rapid changes may be seen as their
// latest value; a version is never reported twice nor goes back. (Watch
// events carry no data, so the node is read after each event, and changes
// written faster than they are read are read as one. Versions restart at 0
// when the node is deleted and created again, which Updates reports as a
// Deleted update in between; Zxid never goes back.)
//
// Decoding allows fields the T does not know, so that writers can add
// fields before all readers know them; data that is not JSON for a T (or
// empty data) is reported as ConfigUpdate.Err.
//
// The watch survives reconnects (the client re-adds it and the member
// reports what changed meanwhile). It ends, closing Updates, on Close, when
// the context given to WatchConfig ends, or when the session ends; Err
// then says why. A Config is safe for concurrent use.
type Config[T any] struct {
	c       *client.Client
	path    string
	updates chan ConfigUpdate[T]
	r       *runner

	mu      sync.Mutex
	value   T
	version int32
	ok      bool
}

// WatchConfig reads the configuration value at path and starts watching
// it. A missing node is allowed: there is no value until it is created.
// If the current data does not decode, the first update says so. The
// watch lasts until Close, the end of ctx (so pass a context that lives as
// long as the watch should), or the end of the session.
func WatchConfig[T any](ctx context.Context, c *client.Client, path string) (*Config[T], error) {
	if err := checkArgs("watch config", c, path); err != nil {
		return nil, err
	}
	pw, err := addPersistent(ctx, c, path, false)
	if err != nil {
		return nil, fmt.Errorf("recipes: watch config %s: %w", path, err)
	}
	w := &Config[T]{c: c, path: path, updates: make(chan ConfigUpdate[T])}
	// The watch is set before the first read, so no change after the read
	// is missed.
	var st configState
	var box mailbox[ConfigUpdate[T]]
	if err := w.read(ctx, &st, &box, 0); err != nil {
		pw.close(ctx)
		return nil, fmt.Errorf("recipes: watch config %s: %w", path, err)
	}
	// The first read is the starting point, reported by Value, not by
	// Updates, unless its data does not decode: then Updates says so.
	if box.full && box.v.Err == nil {
		box.sent()
	}
	w.r = startRunner(ctx, func(ctx context.Context) error { return w.loop(ctx, pw, st, box) }, func() { close(w.updates) })
	return w, nil
}

// configState is what the loop knows of the node: whether it exists and
// the zxid of the last state reported.
type configState struct {
	known  bool // the node's state has been read once
	exists bool
	zxid   int64
}

// loop reads the node after each batch of events and reports what
// changed, until ctx or the session ends.
func (w *Config[T]) loop(ctx context.Context, pw *persistentWatch, st configState, box mailbox[ConfigUpdate[T]]) error {
	defer pw.close(ctx)
	for {
		select {
		case w.sendOn(&box) <- box.v:
			box.sent()
		case ev, ok := <-pw.events():
			if !ok {
				if err := pw.ended(ctx); err != nil {
					return err
				}
				// Events were lost in the overflow: read again.
				if err := w.read(ctx, &st, &box, 0); err != nil {
					return err
				}
				continue
			}
			var delZxid int64
			relevant := false
			for _, ev := range pw.batch(ev) {
				switch ev.Type {
				case client.EventNodeDeleted:
					delZxid, relevant = int64(ev.Zxid), true
				case client.EventNodeCreated, client.EventNodeDataChanged:
					relevant = true
				}
			}
			if relevant {
				if err := w.read(ctx, &st, &box, delZxid); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-w.c.Done():
			return w.c.Err()
		}
	}
}

// sendOn is mailbox.sendOn for the updates channel.
func (w *Config[T]) sendOn(box *mailbox[ConfigUpdate[T]]) chan ConfigUpdate[T] {
	return box.sendOn(w.updates)
}

// read reads the node and, if its state is newer than the last one
// reported, records it and puts the update in box (replacing an
// undelivered older one). delZxid is the zxid of a deletion event in the
// batch, if any.
func (w *Config[T]) read(ctx context.Context, st *configState, box *mailbox[ConfigUpdate[T]], delZxid int64) error {
	data, stat, err := w.c.Get(ctx, w.path)
	if errors.Is(err, client.ErrNoNode) {
		if st.known && !st.exists {
			return nil
		}
		st.known, st.exists = true, false
		st.zxid = max(st.zxid, delZxid)
		w.mu.Lock()
		var zero T
		w.value, w.version, w.ok = zero, 0, false
		w.mu.Unlock()
		box.put(ConfigUpdate[T]{Deleted: true, Zxid: st.zxid})
		return nil
	}
	if err != nil {
		return err
	}
	// Reads never go back for one client, so an older Mzxid means an
	// event already covered by an earlier read.
	if st.known && st.exists && stat.Mzxid <= st.zxid {
		return nil
	}
	st.known, st.exists, st.zxid = true, true, stat.Mzxid
	var v T
	if err := decodeConfig(data, &v); err != nil {
		box.put(ConfigUpdate[T]{Version: stat.Version, Zxid: stat.Mzxid,
			Err: fmt.Errorf("recipes: config %s version %d: %w", w.path, stat.Version, err)})
		return nil
	}
	w.mu.Lock()
	w.value, w.version, w.ok = v, stat.Version, true
	w.mu.Unlock()
	box.put(ConfigUpdate[T]{Value: v, Version: stat.Version, Zxid: stat.Mzxid})
	return nil
}

// decodeConfig decodes data as one JSON value; fields v does not know are
// allowed.
func decodeConfig(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty data, not JSON")
	}
	return json.Unmarshal(data, v)
}

// Value returns the latest value seen and its version; ok is false while
// there is none (the node is missing, or no data of it has decoded yet).
func (w *Config[T]) Value() (v T, version int32, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.value, w.version, w.ok
}

// Updates returns the channel of changes, in order. It holds no backlog:
// a consumer that falls behind finds the newest change waiting, never an
// older one, so it never blocks the watch and never misses the final
// value. It is closed when the watch ends.
func (w *Config[T]) Updates() <-chan ConfigUpdate[T] { return w.updates }

// Close ends the watch and removes it from the member. It waits for the
// watch's goroutine to finish, or for ctx.
func (w *Config[T]) Close(ctx context.Context) error { return w.r.close(ctx) }

// Err returns nil while the watch runs, then why it ended: ErrWatchClosed
// after Close, the context's error, or the session's.
func (w *Config[T]) Err() error { return w.r.Err() }

// SetConfig writes v, encoded as JSON, to the node at path if its version
// is version, and returns the node's new version. With version -1 it
// writes whatever the version, creating the node (and its missing
// ancestors) if it does not exist; with a version of 0 or more the node
// must exist (ErrNoNode) at that version (ErrBadVersion). A v that
// encodes as JSON null (a nil pointer, map or slice) is refused. If ctx
// ends while the write is in flight, the write may have been applied.
func SetConfig[T any](ctx context.Context, c *client.Client, path string, v T, version int32) (int32, error) {
	if err := checkArgs("set config", c, path); err != nil {
		return 0, err
	}
	if version < -1 {
		return 0, fmt.Errorf("recipes: set config %s: version %d: want -1 (any) or 0 and up", path, version)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("recipes: set config %s: encode: %w", path, err)
	}
	if string(data) == "null" {
		return 0, fmt.Errorf("recipes: set config %s: the value encodes as JSON null (a nil pointer, map or slice?)", path)
	}
	for range maxSetAttempts {
		stat, err := c.Set(ctx, path, data, version)
		if err == nil {
			return stat.Version, nil
		}
		if !errors.Is(err, client.ErrNoNode) || version != -1 {
			return 0, fmt.Errorf("recipes: set config %s: %w", path, err)
		}
		_, err = c.Create(ctx, path, data, client.WithParents())
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, client.ErrNodeExists) {
			return 0, fmt.Errorf("recipes: set config %s: %w", path, err)
		}
		// Created by another meanwhile: set it.
	}
	return 0, fmt.Errorf("recipes: set config %s: the node was deleted and created again %d times under the write", path, maxSetAttempts)
}
