package watch

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// WatcherID names a watcher: whatever the server delivers events to, one
// per session or connection. The registry only compares and orders them.
type WatcherID uint64

// EventType is the type of a watch event, numbered as ZooKeeper's.
type EventType int32

// The event types.
const (
	NodeCreated         EventType = 1
	NodeDeleted         EventType = 2
	NodeDataChanged     EventType = 3
	NodeChildrenChanged EventType = 4
)

// String returns the ZooKeeper name of t, e.g. "NodeCreated".
func (t EventType) String() string {
	switch t {
	case NodeCreated:
		return "NodeCreated"
	case NodeDeleted:
		return "NodeDeleted"
	case NodeDataChanged:
		return "NodeDataChanged"
	case NodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is a change to one node, as the tree reports it: Path names the
// changed node, Zxid the entry that changed it.
type Event struct {
	Type EventType
	Path string
	Zxid int64
}

// Kind is a set of watch kinds. The constants are the single kinds; Add
// takes one of them, Remove and Delivery use sets.
type Kind uint8

// The watch kinds.
const (
	Data                Kind = 1 << iota // one-shot, set by get and exists
	Child                                // one-shot, set by getChildren
	Persistent                           // every event of the path, stays
	PersistentRecursive                  // created, deleted, data of the path and below, stays

	AnyKind = Data | Child | Persistent | PersistentRecursive // every kind, for Remove
)

const oneShot = Data | Child

// String returns the names of the kinds in k joined by "|", e.g.
// "Data|PersistentRecursive", or "0" for the empty set.
func (k Kind) String() string {
	if k == 0 {
		return "0"
	}
	var names []string
	for _, c := range [...]struct {
		k    Kind
		name string
	}{{Data, "Data"}, {Child, "Child"}, {Persistent, "Persistent"}, {PersistentRecursive, "PersistentRecursive"}} {
		if k&c.k != 0 {
			names = append(names, c.name)
		}
	}
	if rest := k &^ AnyKind; rest != 0 {
		names = append(names, "Kind(0x"+strconv.FormatUint(uint64(rest), 16)+")")
	}
	return strings.Join(names, "|")
}

// single reports whether k is exactly one known kind.
func (k Kind) single() bool {
	return k != 0 && k&^AnyKind == 0 && k&(k-1) == 0
}

// fires returns the kinds that an event of type t fires on the event's own
// path (PersistentRecursive also fires on the ancestors').
func fires(t EventType) Kind {
	switch t {
	case NodeCreated, NodeDataChanged:
		return Data | Persistent | PersistentRecursive
	case NodeDeleted:
		return Data | Child | Persistent | PersistentRecursive
	case NodeChildrenChanged:
		return Child | Persistent
	}
	panic(fmt.Sprintf("watch: Fire with unknown event type %d", int32(t)))
}

// Delivery is one watcher to notify of one event. Kind is the set of the
// watcher's watches that fired; Data and Child among them are now removed.
type Delivery struct {
	Watcher WatcherID
	Kind    Kind
	Event   Event
}

// Registration is one watch: a single kind on a path.
type Registration struct {
	Path string
	Kind Kind
}

// Stats counts what a Registry holds.
type Stats struct {
	Watchers int // watchers with at least one watch
	Paths    int // paths with at least one watch
	Watches  int // registrations: one per watcher, path and kind
}

// DefaultMaxPerWatcher is the limit on one watcher's registrations used when
// Config.MaxPerWatcher is 0.
const DefaultMaxPerWatcher = 65536

// Config holds a Registry's limits.
type Config struct {
	// MaxPerWatcher is the most registrations (path and kind pairs) one
	// watcher may hold; Add past it fails with a *LimitError. 0 means
	// DefaultMaxPerWatcher.
	MaxPerWatcher int
}

// LimitError is returned by Add when a watcher already holds the most
// registrations allowed. It matches errcode.QuotaExceeded with errors.Is.
type LimitError struct {
	Watcher WatcherID
	Path    string
	Kind    Kind
	Limit   int
}

// Error says which watch was refused and why.
func (e *LimitError) Error() string {
	return fmt.Sprintf("watch %s %s: watcher %d already holds %d watches, the limit",
		e.Kind, e.Path, e.Watcher, e.Limit)
}

// Unwrap returns errcode.QuotaExceeded.
func (e *LimitError) Unwrap() error { return errcode.QuotaExceeded }

// entry is the watches on one path.
type entry struct {
	kinds map[WatcherID]Kind // every watcher with a watch here, and its kinds
	// recursive holds the watchers whose kinds include PersistentRecursive,
	// so that an event below this path visits only them.
	recursive map[WatcherID]struct{}
}

// watcher is the watches of one watcher.
type watcher struct {
	paths map[string]Kind
	n     int // registrations: the kinds in paths, counted
}

// Registry is one member's watch registry. Its zero value is not usable;
// call New. See the package documentation for who may call it.
type Registry struct {
	max       int
	paths     map[string]*entry
	byWatcher map[WatcherID]*watcher
	watches   int     // registrations
	recursive int     // PersistentRecursive registrations; 0 skips the ancestor walk
	scratch   []match // Fire's buffer, kept to spare an allocation per event
}

// New returns an empty Registry with cfg's limits. It panics if a limit is
// negative.
func New(cfg Config) *Registry {
	if cfg.MaxPerWatcher < 0 {
		panic(fmt.Sprintf("watch: Config.MaxPerWatcher is negative (%d)", cfg.MaxPerWatcher))
	}
	if cfg.MaxPerWatcher == 0 {
		cfg.MaxPerWatcher = DefaultMaxPerWatcher
	}
	return &Registry{
		max:       cfg.MaxPerWatcher,
		paths:     map[string]*entry{},
		byWatcher: map[WatcherID]*watcher{},
	}
}

// Add registers a watch of kind k by w on path, which the caller has
// validated. Adding a watch w already holds changes nothing. It returns a
// *LimitError if w would hold more than Config.MaxPerWatcher watches, and
// panics if k is not a single kind or path is not absolute.
func (r *Registry) Add(w WatcherID, path string, k Kind) error {
	if !k.single() {
		panic(fmt.Sprintf("watch: Add of %s: want exactly one kind", k))
	}
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("watch: Add on %q: not an absolute path", path))
	}
	mine := r.byWatcher[w]
	if mine == nil {
		mine = &watcher{paths: map[string]Kind{}}
		r.byWatcher[w] = mine
	}
	if mine.paths[path]&k != 0 {
		return nil
	}
	if mine.n >= r.max {
		return &LimitError{Watcher: w, Path: path, Kind: k, Limit: r.max}
	}
	mine.paths[path] |= k
	mine.n++
	e := r.paths[path]
	if e == nil {
		e = &entry{kinds: map[WatcherID]Kind{}}
		r.paths[path] = e
	}
	e.kinds[w] |= k
	if k == PersistentRecursive {
		if e.recursive == nil {
			e.recursive = map[WatcherID]struct{}{}
		}
		e.recursive[w] = struct{}{}
		r.recursive++
	}
	r.watches++
	return nil
}

func popcount(k Kind) int {
	n := 0
	for ; k != 0; k &= k - 1 {
		n++
	}
	return n
}

// Remove removes w's watches of the kinds in ks on path (AnyKind for all,
// as removeWatches with type Any) and reports whether it removed any, so
// that the server can answer NoWatcher when it did not.
func (r *Registry) Remove(w WatcherID, path string, ks Kind) bool {
	return r.remove(w, path, ks) != 0
}

// remove removes w's watches of the kinds in ks on path and returns the
// kinds removed.
func (r *Registry) remove(w WatcherID, path string, ks Kind) Kind {
	mine := r.byWatcher[w]
	if mine == nil {
		return 0
	}
	had := mine.paths[path]
	gone := had & ks
	if gone == 0 {
		return 0
	}
	mine.n -= popcount(gone)
	if left := had &^ gone; left != 0 {
		mine.paths[path] = left
	} else if delete(mine.paths, path); len(mine.paths) == 0 {
		delete(r.byWatcher, w)
	}
	e := r.paths[path]
	if left := e.kinds[w] &^ gone; left != 0 {
		e.kinds[w] = left
	} else if delete(e.kinds, w); len(e.kinds) == 0 {
		delete(r.paths, path)
	}
	if gone&PersistentRecursive != 0 {
		delete(e.recursive, w)
		if len(e.recursive) == 0 {
			e.recursive = nil
		}
		r.recursive--
	}
	r.watches -= popcount(gone)
	return gone
}

// RemoveAll removes every watch of w, as when its session ends, and returns
// how many there were.
func (r *Registry) RemoveAll(w WatcherID) int {
	mine := r.byWatcher[w]
	if mine == nil {
		return 0
	}
	n := mine.n
	for path, k := range mine.paths {
		r.remove(w, path, k)
	}
	return n
}

// Watches returns w's registrations sorted by path and then kind, for
// re-registering them elsewhere and for status reports.
func (r *Registry) Watches(w WatcherID) []Registration {
	mine := r.byWatcher[w]
	if mine == nil {
		return nil
	}
	out := make([]Registration, 0, mine.n)
	for path, ks := range mine.paths {
		for k := Data; k <= PersistentRecursive; k <<= 1 {
			if ks&k != 0 {
				out = append(out, Registration{Path: path, Kind: k})
			}
		}
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// Count returns the number of w's registrations.
func (r *Registry) Count(w WatcherID) int {
	if mine := r.byWatcher[w]; mine != nil {
		return mine.n
	}
	return 0
}

// Stats returns the registry's counts.
func (r *Registry) Stats() Stats {
	return Stats{Watchers: len(r.byWatcher), Paths: len(r.paths), Watches: r.watches}
}

// Fire returns the deliveries of ev, one per watcher with a matching watch
// that allow accepts (allow nil accepts every watcher), sorted by
// WatcherID, and removes the one-shot watches delivered. allow is called at
// most once per watcher and must not call the Registry; a watcher it
// refuses keeps its watches. Fire panics on an unknown event type.
//
// Events must be fired in the order they were applied; the registry does
// not look at Zxid.
func (r *Registry) Fire(ev Event, allow func(WatcherID) bool) []Delivery {
	mask := fires(ev.Type)
	// Gather (watcher, kinds) pairs, small to sort, then merge each
	// watcher's pairs into one delivery.
	found := r.scratch[:0]
	if e := r.paths[ev.Path]; e != nil {
		for w, k := range e.kinds {
			if k &= mask; k != 0 {
				found = append(found, match{w, k})
			}
		}
	}
	if mask&PersistentRecursive != 0 && r.recursive > 0 {
		for p := zpath.Parent(ev.Path); p != ""; p = zpath.Parent(p) {
			if e := r.paths[p]; e != nil {
				for w := range e.recursive {
					found = append(found, match{w, PersistentRecursive})
				}
			}
		}
	}
	if cap(found) <= maxScratch {
		r.scratch = found
	}
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b match) int { return cmp.Compare(a.w, b.w) })
	var out []Delivery
	for i := 0; i < len(found); {
		d := Delivery{Watcher: found[i].w, Kind: found[i].k, Event: ev}
		for i++; i < len(found) && found[i].w == d.Watcher; i++ {
			d.Kind |= found[i].k
		}
		if allow != nil && !allow(d.Watcher) {
			continue
		}
		if d.Kind&oneShot != 0 {
			r.remove(d.Watcher, ev.Path, d.Kind&oneShot)
		}
		if out == nil {
			out = make([]Delivery, 0, len(found)-i+1)
		}
		out = append(out, d)
	}
	return out
}

// match is a watcher found by Fire and the kinds of its watches that fired.
type match struct {
	w WatcherID
	k Kind
}

// maxScratch bounds the buffer Fire keeps between calls, in matches.
const maxScratch = 1 << 16
