package conformance

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/proxy"
)

// waitBound bounds every wait of the semantics tests for something the
// cluster does on its own (an expiry, a reap, a failover): generous, since
// the machine may be shared and slow; the tests assert outcomes, never
// how long they took.
const waitBound = 20 * time.Second

// pollInterval is how often a bounded poll looks again.
const pollInterval = 50 * time.Millisecond

// eventually polls cond until it reports true, failing the test with what
// if it has not within waitBound. cond may fail the test itself.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitBound, what)
		}
		time.Sleep(pollInterval)
	}
}

// nextEvent receives the next event from ch, failing the test if ch is
// closed or nothing arrives within waitBound.
func nextEvent(t testing.TB, ch <-chan client.Event, what string) client.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the watch channel was closed without an event", what)
		}
		return ev
	case <-time.After(waitBound):
		t.Fatalf("%s: no event within %v", what, waitBound)
	}
	panic("unreachable")
}

// wantEvent receives the next event from ch and checks its type, path and
// zxid (zxid 0: any).
func wantEvent(t testing.TB, ch <-chan client.Event, typ client.EventType, path string, zxid int64) client.Event {
	t.Helper()
	ev := nextEvent(t, ch, typ.String()+" "+path)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("event %v %s (zxid %d), want %v %s", ev.Type, ev.Path, ev.Zxid, typ, path)
	}
	if zxid != 0 && ev.Zxid != uint64(zxid) {
		t.Fatalf("event %v %s has zxid %d, want the change's zxid %d", ev.Type, ev.Path, ev.Zxid, zxid)
	}
	if ev.CatchUp {
		t.Fatalf("event %v %s is a catch-up event; the client never disconnected", ev.Type, ev.Path)
	}
	return ev
}

// wantClosed checks that the one-shot watch channel ch is closed with no
// further event (it must be closed already, or be closed within
// waitBound).
func wantClosed(t testing.TB, ch <-chan client.Event, what string) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("%s: unexpected event %v %s (zxid %d)", what, ev.Type, ev.Path, ev.Zxid)
		}
	case <-time.After(waitBound):
		t.Fatalf("%s: the channel was not closed within %v", what, waitBound)
	}
}

// wantNoPending checks that ch has no event ready now. It proves nothing
// about later events; the tests use it after a change that is known to
// have been applied, with a later marker change to bound what may come.
func wantNoPending(t testing.TB, ch <-chan client.Event, what string) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("%s: unexpected event %v %s (zxid %d)", what, ev.Type, ev.Path, ev.Zxid)
		}
		t.Fatalf("%s: the channel was closed", what)
	default:
	}
}

// wantErr fails the test unless err matches code.
func wantErr(t testing.TB, err error, code error, what string) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, code)
	}
}

// mustOK fails the test if err is not nil.
func mustOK(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mustCreate creates path with data (and opts) and returns its path.
func mustCreate(t testing.TB, c *client.Client, path string, data []byte, opts ...client.CreateOption) string {
	t.Helper()
	p, err := c.Create(ctxT(t), path, data, opts...)
	mustOK(t, err, "create "+path)
	return p
}

// mustStat returns path's Stat.
func mustStat(t testing.TB, c *client.Client, path string) client.Stat {
	t.Helper()
	st, err := c.Exists(ctxT(t), path)
	mustOK(t, err, "exists "+path)
	return st
}

// snapshot is what a test compares before and after an operation that
// must change nothing: a node's data, Stat and children (or its absence).
type snapshot struct {
	exists   bool
	data     []byte
	stat     client.Stat
	children []string
}

func takeSnapshot(t testing.TB, c *client.Client, path string) snapshot {
	t.Helper()
	res, err := c.ReadMulti(ctxT(t), client.GetOp(path), client.ChildrenOp(path))
	mustOK(t, err, "readmulti "+path)
	if errors.Is(res[0].Err, client.ErrNoNode) {
		return snapshot{}
	}
	mustOK(t, res[0].Err, "get "+path)
	mustOK(t, res[1].Err, "children "+path)
	return snapshot{exists: true, data: res[0].Data, stat: res[0].Stat, children: res[1].Children}
}

func (s snapshot) equal(o snapshot) bool {
	if s.exists != o.exists {
		return false
	}
	if !bytes.Equal(s.data, o.data) || !statEqual(s.stat, o.stat) || len(s.children) != len(o.children) {
		return false
	}
	for i := range s.children {
		if s.children[i] != o.children[i] {
			return false
		}
	}
	return true
}

// statEqual compares Stats field by field (the times with Equal).
func statEqual(a, b client.Stat) bool {
	return a.Czxid == b.Czxid && a.Mzxid == b.Mzxid && a.Pzxid == b.Pzxid &&
		a.Ctime.Equal(b.Ctime) && a.Mtime.Equal(b.Mtime) &&
		a.Version == b.Version && a.Cversion == b.Cversion && a.Aversion == b.Aversion &&
		a.EphemeralOwner == b.EphemeralOwner && a.DataLength == b.DataLength && a.NumChildren == b.NumChildren
}

// unchanged checks that each path looks as it did in before: the failed
// operation in between changed nothing.
func unchanged(t testing.TB, c *client.Client, before map[string]snapshot, what string) {
	t.Helper()
	for p, s := range before {
		if now := takeSnapshot(t, c, p); !now.equal(s) {
			t.Errorf("%s changed %s: before %+v, after %+v", what, p, s, now)
		}
	}
}

func snapshots(t testing.TB, c *client.Client, paths ...string) map[string]snapshot {
	t.Helper()
	m := make(map[string]snapshot, len(paths))
	for _, p := range paths {
		m[p] = takeSnapshot(t, c, p)
	}
	return m
}

// stateRecorder records the states a client reports through
// client.WithStateFunc.
type stateRecorder struct {
	mu     sync.Mutex
	states []client.State
}

func (r *stateRecorder) record(s client.State) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

func (r *stateRecorder) seen(s client.State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.states {
		if x == s {
			return true
		}
	}
	return false
}

func (r *stateRecorder) count(s client.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.states {
		if x == s {
			n++
		}
	}
	return n
}

func (r *stateRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	for i, s := range r.states {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// forwarder is a loopback TCP proxy a test puts between one client and
// one member, to take that client's network away without touching the
// cluster: Drop closes its connections (the client reconnects through it),
// Cut closes them and black-holes every new one from then on.
type forwarder struct{ *proxy.Proxy }

// startForwarder forwards every connection to target until the test ends.
func startForwarder(t testing.TB, target string) *forwarder {
	t.Helper()
	p, err := proxy.New(proxy.Config{Target: target})
	if err != nil {
		t.Fatalf("forwarder: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &forwarder{p}
}

// Drop closes every connection through the forwarder; new ones are still
// forwarded. It returns how many it closed.
func (f *forwarder) Drop() int { return f.CutAll() }

// Cut closes every connection and forwards nothing more, for good: the
// client behind it has lost its network.
func (f *forwarder) Cut() {
	f.BlockAll()
	f.CutAll()
}
