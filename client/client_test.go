package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// wait bounds every wait in these tests; nothing asserts on timing.
const wait = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, s *fakeServer, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)
	c, err := Connect(testCtx(t), []string{s.addr}, opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// stateLog records state changes.
type stateLog struct {
	mu     sync.Mutex
	states []State
	ch     chan State
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan State, 100)} }

func (l *stateLog) record(st State) {
	l.mu.Lock()
	l.states = append(l.states, st)
	l.mu.Unlock()
	l.ch <- st
}

// await waits for st to be reported.
func (l *stateLog) await(t *testing.T, st State) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case got := <-l.ch:
			if got == st {
				return
			}
		case <-timer.C:
			t.Fatalf("state %v never reported", st)
		}
	}
}

func recvEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed without an event")
		}
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
	}
	return Event{}
}

// recvClosed waits for ch to be closed without an event.
func recvClosed(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("watch delivered %+v; want its channel closed without an event", ev)
		}
	case <-time.After(wait):
		t.Fatal("watch channel not closed")
	}
}

func wantCode(t *testing.T, err error, code errcode.Code, op, path string) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("%s %s: got %v, want %v", op, path, err, code.Name())
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != op || e.Path != path || e.Code != code {
		t.Fatalf("got %#v, want *Error{%s %s %v}", err, op, path, code.Name())
	}
}

func TestOps(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	p, err := c.Create(ctx, "/a", []byte("one"))
	if err != nil || p != "/a" {
		t.Fatalf("Create = %q, %v", p, err)
	}
	_, err = c.Create(ctx, "/a", nil)
	wantCode(t, err, ErrNodeExists, "create", "/a")
	_, err = c.Create(ctx, "/x/y", nil)
	wantCode(t, err, ErrNoNode, "create", "/x/y")
	if p, err := c.Create(ctx, "/x/y", nil, WithParents()); err != nil || p != "/x/y" {
		t.Fatalf("Create with parents = %q, %v", p, err)
	}

	data, st, err := c.Get(ctx, "/a")
	if err != nil || string(data) != "one" || st.Version != 0 || st.DataLength != 3 {
		t.Fatalf("Get = %q, %+v, %v", data, st, err)
	}
	_, _, err = c.Get(ctx, "/nope")
	wantCode(t, err, ErrNoNode, "get", "/nope")

	st, err = c.Set(ctx, "/a", []byte("two"), 0)
	if err != nil || st.Version != 1 {
		t.Fatalf("Set = %+v, %v", st, err)
	}
	_, err = c.Set(ctx, "/a", []byte("three"), 0)
	wantCode(t, err, ErrBadVersion, "set", "/a")
	if _, err := c.Set(ctx, "/a", []byte("three"), -1); err != nil {
		t.Fatalf("Set any version: %v", err)
	}

	if st, err := c.Exists(ctx, "/a"); err != nil || st.Version != 2 {
		t.Fatalf("Exists = %+v, %v", st, err)
	}
	_, err = c.Exists(ctx, "/nope")
	wantCode(t, err, ErrNoNode, "exists", "/nope")

	for _, name := range []string{"c", "b"} {
		if _, err := c.Create(ctx, "/a/"+name, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, st, err := c.Children(ctx, "/a")
	if err != nil || !slices.Equal(names, []string{"b", "c"}) || st.NumChildren != 2 {
		t.Fatalf("Children = %v, %+v, %v", names, st, err)
	}
	_, _, err = c.Children(ctx, "/nope")
	wantCode(t, err, ErrNoNode, "children", "/nope")

	wantCode(t, c.Delete(ctx, "/a", -1), ErrNotEmpty, "delete", "/a")
	wantCode(t, c.Delete(ctx, "/a/b", 7), ErrBadVersion, "delete", "/a/b")
	wantCode(t, c.Delete(ctx, "/nope", -1), ErrNoNode, "delete", "/nope")
	for _, p := range []string{"/a/b", "/a/c", "/a"} {
		if err := c.Delete(ctx, p, -1); err != nil {
			t.Fatalf("Delete %s: %v", p, err)
		}
	}
	if err := c.Sync(ctx, "/"); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func TestCreateModes(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	if _, err := c.Create(ctx, "/q", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p, err := c.Create(ctx, "/q/item-", nil, WithMode(ModePersistentSequential))
		if want := fmt.Sprintf("/q/item-%010d", i); err != nil || p != want {
			t.Fatalf("sequential Create = %q, %v; want %q", p, err, want)
		}
	}
	if _, err := c.Create(ctx, "/e", nil, WithMode(ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Exists(ctx, "/e")
	if err != nil || st.EphemeralOwner != c.SessionID() {
		t.Fatalf("ephemeral owner = %d, %v; want %d", st.EphemeralOwner, err, c.SessionID())
	}
	_, err = c.Create(ctx, "/e/child", nil)
	wantCode(t, err, ErrNoChildrenForEphemerals, "create", "/e/child")
}

// Bad arguments are refused before anything is sent.
func TestBadArguments(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	before := s.receivedCount()

	for _, p := range []string{"", "a", "/a/", "/a//b", "/a/./b", "/a\x00"} {
		_, err := c.Create(ctx, p, nil)
		wantCode(t, err, ErrBadArguments, "create", p)
		_, _, err = c.Get(ctx, p)
		wantCode(t, err, ErrBadArguments, "get", p)
	}
	_, err := c.Create(ctx, "/t", nil, WithMode(ModePersistentTTL))
	wantCode(t, err, ErrBadArguments, "create", "/t")
	_, err = c.Create(ctx, "/t", nil, WithTTL(time.Second))
	wantCode(t, err, ErrBadArguments, "create", "/t")
	_, err = c.Create(ctx, "/t", nil, WithACL())
	wantCode(t, err, ErrInvalidACL, "create", "/t")
	_, err = c.Multi(ctx, CreateOp("/ok", nil), DeleteOp("bad", -1))
	wantCode(t, err, ErrBadArguments, "multi", "bad") // as the member would say it
	_, err = c.ReadMulti(ctx, GetOp("/ok"), ChildrenOp("/a/"))
	wantCode(t, err, ErrBadArguments, "children", "/a/")
	_, err = c.ReadMulti(ctx, ExistsOp("/ok"), ReadOp{})
	wantCode(t, err, ErrBadArguments, "readmulti", "")
	_, err = c.CountDescendants(ctx, "")
	wantCode(t, err, ErrBadArguments, "countdescendants", "")
	_, err = c.GetEphemerals(ctx, "app")
	wantCode(t, err, ErrBadArguments, "getephemerals", "app")
	wantCode(t, c.RemoveWatches(ctx, "/a/../b"), ErrBadArguments, "removewatches", "/a/../b")
	wantCode(t, c.RemoveWatches(ctx, "/ok", WatchData, WatchKind(42)), ErrBadArguments, "removewatches", "/ok")
	if got := s.receivedCount(); got != before {
		t.Fatalf("the member received %d requests with bad arguments", got-before)
	}
}

func TestMulti(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	res, err := c.Multi(ctx, CreateOp("/m", []byte("x")), SetOp("/m", []byte("y"), 0), CheckOp("/m", 1))
	if err != nil || len(res) != 3 || res[0].Path != "/m" || res[1].Stat.Version != 1 {
		t.Fatalf("Multi = %+v, %v", res, err)
	}
	res, err = c.Multi(ctx, CreateOp("/n", nil), CheckOp("/m", 5), DeleteOp("/m", -1))
	wantCode(t, err, ErrBadVersion, "multi", "/m")
	if len(res) != 3 || res[0].Err != nil || !errors.Is(res[1].Err, ErrBadVersion) || !errors.Is(res[2].Err, ErrRuntimeInconsistency) {
		t.Fatalf("failed Multi results = %+v", res)
	}
	if _, err := c.Exists(ctx, "/n"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("a failed multi left /n behind: %v", err)
	}
	if res, err := c.Multi(ctx); res != nil || err != nil {
		t.Fatalf("empty Multi = %v, %v", res, err)
	}
	// An op the client refuses itself reads like one the member refused:
	// Op "multi", and the results say which op it was; nothing is sent.
	before := s.receivedCount()
	res, err = c.Multi(ctx, CreateOp("/o", nil), SetOp("/bad/", nil, -1), CreateOp("/p", nil, WithACL()))
	wantCode(t, err, ErrBadArguments, "multi", "/bad/")
	if len(res) != 3 || !errors.Is(res[0].Err, ErrRuntimeInconsistency) || res[1].Err != err || !errors.Is(res[2].Err, ErrRuntimeInconsistency) {
		t.Fatalf("refused Multi results = %+v", res)
	}
	if n := s.receivedCount(); n != before {
		t.Fatalf("a refused multi sent %d requests", n-before)
	}
}

func TestReadMulti(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	for _, p := range []string{"/rm", "/rm/b", "/rm/a"} {
		if _, err := c.Create(ctx, p, []byte("d"+p)); err != nil {
			t.Fatal(err)
		}
	}
	alice := ACL{Perms: PermAll, Scheme: "digest", ID: "alice:" + digest("alice:pw")}
	if _, err := c.Create(ctx, "/rm/secret", nil, WithACL(alice)); err != nil {
		t.Fatal(err)
	}

	res, err := c.ReadMulti(ctx, GetOp("/rm"), ChildrenOp("/rm"), ExistsOp("/rm/a"),
		GetOp("/none"), ChildrenOp("/none"), ExistsOp("/none"), GetOp("/rm/secret"), ExistsOp("/rm/secret"))
	if err != nil || len(res) != 8 {
		t.Fatalf("ReadMulti = %+v, %v", res, err)
	}
	if r := res[0]; r.Err != nil || string(r.Data) != "d/rm" || r.Stat.NumChildren != 3 || r.Children != nil {
		t.Fatalf("get result = %+v", r)
	}
	if r := res[1]; r.Err != nil || !slices.Equal(r.Children, []string{"a", "b", "secret"}) || r.Stat.NumChildren != 3 || r.Data != nil {
		t.Fatalf("children result = %+v", r)
	}
	if r := res[2]; r.Err != nil || r.Stat.Czxid == 0 || r.Data != nil || r.Children != nil {
		t.Fatalf("exists result = %+v", r)
	}
	for _, r := range res[3:6] {
		wantCode(t, r.Err, ErrNoNode, "readmulti", "/none")
		if r.Data != nil || r.Children != nil || r.Stat != (Stat{}) {
			t.Fatalf("failed read carries a result: %+v", r)
		}
	}
	wantCode(t, res[6].Err, ErrNoAuth, "readmulti", "/rm/secret")
	if r := res[7]; r.Err != nil || r.Stat.Czxid == 0 {
		t.Fatalf("exists needs no permission: %+v", r)
	}

	before := s.receivedCount()
	if res, err := c.ReadMulti(ctx); res != nil || err != nil {
		t.Fatalf("empty ReadMulti = %v, %v", res, err)
	}
	if got := s.receivedCount(); got != before {
		t.Fatal("an empty ReadMulti was sent")
	}
}

func TestCountDescendants(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	for _, p := range []string{"/cd", "/cd/a", "/cd/a/x", "/cd/b", "/cdx"} {
		if _, err := c.Create(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]int64{"/cd": 3, "/cd/a": 1, "/cd/b": 0, "/": 5} {
		if n, err := c.CountDescendants(ctx, p); err != nil || n != want {
			t.Fatalf("CountDescendants(%s) = %d, %v; want %d", p, n, err, want)
		}
	}
	_, err := c.CountDescendants(ctx, "/none")
	wantCode(t, err, ErrNoNode, "countdescendants", "/none")
	if _, err := c.SetACL(ctx, "/cd/a", WorldACL(PermWrite), -1); err != nil {
		t.Fatal(err)
	}
	_, err = c.CountDescendants(ctx, "/cd/a")
	wantCode(t, err, ErrNoAuth, "countdescendants", "/cd/a")
}

func TestGetEphemerals(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	other := connect(t, s)
	ctx := testCtx(t)
	for _, p := range []string{"/app", "/app/sub"} {
		if _, err := c.Create(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/app/sub/e2", "/app/e1", "/top"} {
		if _, err := c.Create(ctx, p, nil, WithMode(ModeEphemeral)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Create(ctx, "/app/theirs", nil, WithMode(ModeEphemeral)); err != nil {
		t.Fatal(err)
	}

	for prefix, want := range map[string][]string{
		"/":        {"/app/e1", "/app/sub/e2", "/top"},
		"/app":     {"/app/e1", "/app/sub/e2"},
		"/app/sub": {"/app/sub/e2"},
		"/none":    nil,
	} {
		if got, err := c.GetEphemerals(ctx, prefix); err != nil || !slices.Equal(got, want) {
			t.Fatalf("GetEphemerals(%s) = %v, %v; want %v", prefix, got, err, want)
		}
	}
	if got, err := other.GetEphemerals(ctx, "/"); err != nil || !slices.Equal(got, []string{"/app/theirs"}) {
		t.Fatalf("the other session's GetEphemerals = %v, %v", got, err)
	}
}

// LastZxid follows the zxids of responses and events.
func TestLastZxid(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	other := connect(t, s)
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/z", nil); err != nil {
		t.Fatal(err)
	}
	st, err := c.Exists(ctx, "/z")
	if err != nil || st.Czxid == 0 || c.LastZxid() != uint64(st.Czxid) {
		t.Fatalf("LastZxid = %d after a create at %d (%v)", c.LastZxid(), st.Czxid, err)
	}
	_, _, w, err := c.GetW(ctx, "/z")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Set(ctx, "/z", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	ev := recvEvent(t, w)
	if c.LastZxid() < ev.Zxid || ev.Zxid <= uint64(st.Czxid) {
		t.Fatalf("LastZxid = %d after an event at %d", c.LastZxid(), ev.Zxid)
	}
}

// RemoveWatches closes the removed one-shot watches' channels without an
// event and leaves other kinds, later watches and persistent watches alone.
func TestRemoveWatches(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	id := c.SessionID()
	if _, err := c.Create(ctx, "/rw", nil); err != nil {
		t.Fatal(err)
	}
	_, _, dataW, err := c.GetW(ctx, "/rw")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childW, err := c.ChildrenW(ctx, "/rw")
	if err != nil {
		t.Fatal(err)
	}
	_, existsW, err := c.ExistsW(ctx, "/rw/new")
	if !errors.Is(err, ErrNoNode) {
		t.Fatal(err)
	}
	pw, err := c.AddWatch(ctx, "/rw", false)
	if err != nil {
		t.Fatal(err)
	}

	if err := c.RemoveWatches(ctx, "/rw", WatchData); err != nil {
		t.Fatal(err)
	}
	recvClosed(t, dataW)
	if s.hasWatch(id, "/rw", 1) || !s.hasWatch(id, "/rw", 3) || !s.hasWatch(id, "/rw", 4) {
		t.Fatal("RemoveWatches(WatchData) removed the wrong watches on the member")
	}
	wantCode(t, c.RemoveWatches(ctx, "/rw", WatchData), ErrNoWatcher, "removewatches", "/rw")

	// With no kinds: every one-shot kind, including the EXISTS side of WatchData.
	if err := c.RemoveWatches(ctx, "/rw/new"); err != nil {
		t.Fatal(err)
	}
	recvClosed(t, existsW)
	if _, err := c.Create(ctx, "/rw/new", nil); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, childW); ev.Type != EventNodeChildrenChanged {
		t.Fatalf("children event = %+v", ev)
	}
	if ev := recvEvent(t, pw.Events()); ev.Type != EventNodeChildrenChanged || ev.Path != "/rw" {
		t.Fatalf("persistent event = %+v", ev)
	}
	wantCode(t, c.RemoveWatches(ctx, "/rw"), ErrNoWatcher, "removewatches", "/rw")
	if !s.hasWatch(id, "/rw", 4) || pw.Err() != nil {
		t.Fatal("RemoveWatches removed a persistent watch")
	}
}

// A watch set by a read sent after RemoveWatches survives it; one set
// before is removed, even when the caller gave up waiting.
func TestRemoveWatchesInOrder(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/o", nil); err != nil {
		t.Fatal(err)
	}
	_, _, before, err := c.GetW(ctx, "/o")
	if err != nil {
		t.Fatal(err)
	}

	received := s.receivedCount()
	s.withhold()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.RemoveWatches(short, "/o", WatchData); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RemoveWatches with an ended context: %v", err)
	}
	after := make(chan (<-chan Event), 1)
	go func() {
		_, _, w, err := c.GetW(ctx, "/o")
		if err != nil {
			t.Error(err)
		}
		after <- w
	}()
	deadline := time.Now().Add(wait)
	for s.receivedCount() < received+2 {
		if time.Now().After(deadline) {
			t.Fatal("the member never received both requests")
		}
		time.Sleep(time.Millisecond)
	}
	s.release()

	recvClosed(t, before)
	var w <-chan Event
	select {
	case w = <-after:
	case <-time.After(wait):
		t.Fatal("GetW never returned")
	}
	if _, err := c.Set(ctx, "/o", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, w); ev.Type != EventNodeDataChanged {
		t.Fatalf("later watch event = %+v", ev)
	}
}

func TestACLAndAuth(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	if _, err := c.Create(ctx, "/secret", []byte("s")); err != nil {
		t.Fatal(err)
	}
	acl, st, err := c.GetACL(ctx, "/secret")
	if err != nil || !slices.Equal(acl, WorldACL(PermAll)) || st.Aversion != 0 {
		t.Fatalf("GetACL = %v, %+v, %v", acl, st, err)
	}
	// digest of "alice:pw"
	alice := ACL{Perms: PermAll, Scheme: "digest", ID: "alice:" + digest("alice:pw")}
	if _, err := c.SetACL(ctx, "/secret", []ACL{alice}, 1); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("SetACL with a wrong version: %v", err)
	}
	if st, err := c.SetACL(ctx, "/secret", []ACL{alice}, 0); err != nil || st.Aversion != 1 {
		t.Fatalf("SetACL = %+v, %v", st, err)
	}
	_, _, err = c.Get(ctx, "/secret")
	wantCode(t, err, ErrNoAuth, "get", "/secret")
	wantCode(t, c.AddAuth(ctx, "nope", []byte("x")), ErrAuthFailed, "addauth", "")
	if err := c.AddAuth(ctx, "digest", []byte("alice:pw")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := c.Get(ctx, "/secret"); err != nil || string(data) != "s" {
		t.Fatalf("Get after AddAuth = %q, %v", data, err)
	}

	// Identities given to Connect, and those added, survive a reconnect.
	c2 := connect(t, s, WithAuth("digest", []byte("alice:pw")))
	if _, _, err := c2.Get(ctx, "/secret"); err != nil {
		t.Fatalf("Get with WithAuth: %v", err)
	}
	s.dropAll()
	if _, _, err := c.Get(ctx, "/secret"); err != nil {
		t.Fatalf("Get after a reconnect: %v", err)
	}
}

// Many requests from many goroutines are in flight at once on one
// connection: the member reads them all while it withholds every answer.
func TestPipelining(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/p", nil); err != nil {
		t.Fatal(err)
	}
	const n = 200
	before := s.receivedCount()
	s.withhold()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = c.Create(ctx, fmt.Sprintf("/p/%03d", i), nil)
			} else {
				_, err = c.Exists(ctx, "/p")
			}
			errs <- err
		})
	}
	deadline := time.Now().Add(wait)
	for s.receivedCount() < before+n {
		if time.Now().After(deadline) {
			t.Fatalf("the member received %d of %d requests", s.receivedCount()-before, n)
		}
		time.Sleep(time.Millisecond)
	}
	s.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	names, _, err := c.Children(ctx, "/p")
	if err != nil || len(names) != n/2 {
		t.Fatalf("Children = %d names, %v", len(names), err)
	}
}

func TestWatchesFireOnce(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/w", []byte("0")); err != nil {
		t.Fatal(err)
	}

	_, _, dataW, err := c.GetW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	_, existsW, err := c.ExistsW(ctx, "/w/new")
	if !errors.Is(err, ErrNoNode) || existsW == nil {
		t.Fatalf("ExistsW on a missing node = %v, %v", existsW, err)
	}
	_, _, childW, err := c.ChildrenW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.Set(ctx, "/w", []byte{byte(i)}, -1); err != nil {
			t.Fatal(err)
		}
	}
	if ev := recvEvent(t, dataW); ev.Type != EventNodeDataChanged || ev.Path != "/w" || ev.Zxid == 0 {
		t.Fatalf("data event = %+v", ev)
	}
	if ev, ok := <-dataW; ok {
		t.Fatalf("a one-shot watch fired twice: %+v", ev)
	}

	if _, err := c.Create(ctx, "/w/new", nil); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, existsW); ev.Type != EventNodeCreated || ev.Path != "/w/new" {
		t.Fatalf("exists event = %+v", ev)
	}
	if ev := recvEvent(t, childW); ev.Type != EventNodeChildrenChanged || ev.Path != "/w" {
		t.Fatalf("children event = %+v", ev)
	}

	// A failed read sets no watch.
	if _, _, ch, err := c.GetW(ctx, "/none"); !errors.Is(err, ErrNoNode) || ch != nil {
		t.Fatalf("GetW on a missing node = %v, %v", ch, err)
	}
}

// Watches survive a reconnect; a change missed while disconnected is
// reported as a catch-up event.
func TestWatchesAcrossReconnect(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record))
	ctx := testCtx(t)
	for _, p := range []string{"/r1", "/r2"} {
		if _, err := c.Create(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, _, w1, err := c.GetW(ctx, "/r1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, w2, err := c.GetW(ctx, "/r2")
	if err != nil {
		t.Fatal(err)
	}

	s.setRefuse(true)
	s.dropAll()
	log.await(t, StateDisconnected)
	s.setData("/r1", []byte("missed"))
	s.setRefuse(false)
	log.await(t, StateConnected)

	if ev := recvEvent(t, w1); ev.Type != EventNodeDataChanged || !ev.CatchUp {
		t.Fatalf("catch-up event = %+v", ev)
	}
	if _, err := c.Set(ctx, "/r2", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, w2); ev.Type != EventNodeDataChanged || ev.CatchUp {
		t.Fatalf("event after reconnect = %+v", ev)
	}
}

// A write whose connection drops after the member applied it is resent with
// the same seq and returns its one result; it is applied once.
func TestWriteRetriedExactlyOnce(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record))
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/q", nil); err != nil { // seq 1
		t.Fatal(err)
	}

	s.setDropAfter(1)
	p, err := c.Create(ctx, "/q/job-", []byte("x"), WithMode(ModePersistentSequential)) // seq 2
	if err != nil || p != "/q/job-0000000000" {
		t.Fatalf("Create across a dropped connection = %q, %v", p, err)
	}
	if seen, applied := s.counts(c.SessionID(), 2); seen != 2 || applied != 1 {
		t.Fatalf("seq 2 received %d times and applied %d times; want 2 and 1", seen, applied)
	}
	log.await(t, StateDisconnected)
	log.await(t, StateConnected)

	// A write queued behind the lost one goes out after it, in seq order.
	s.setDropAfter(1)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := c.Create(ctx, fmt.Sprintf("/q/n%d", i), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	names, _, err := c.Children(ctx, "/q")
	if err != nil || len(names) != 6 {
		t.Fatalf("Children = %v, %v", names, err)
	}
	for seq := uint64(3); seq <= 7; seq++ {
		if _, applied := s.counts(c.SessionID(), seq); applied != 1 {
			t.Fatalf("seq %d applied %d times", seq, applied)
		}
	}
}

// The member expiring the session fails pending and later operations with
// ErrSessionExpired, ends the watches and reports StateExpired.
func TestSessionExpiredByMember(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record))
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/x", nil); err != nil {
		t.Fatal(err)
	}
	_, _, w, err := c.GetW(ctx, "/x")
	if err != nil {
		t.Fatal(err)
	}
	s.expire(c.SessionID())
	log.await(t, StateExpired)
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("Done not closed")
	}
	if c.State() != StateExpired || !errors.Is(c.Err(), ErrSessionExpired) {
		t.Fatalf("State = %v, Err = %v", c.State(), c.Err())
	}
	select {
	case ev, ok := <-w:
		if ok {
			t.Fatalf("watch got %+v from an expired session", ev)
		}
	case <-time.After(wait):
		t.Fatal("watch channel not closed")
	}
	_, _, err = c.Get(ctx, "/x")
	wantCode(t, err, ErrSessionExpired, "get", "/x")
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close after expiry: %v", err)
	}
}

// A client that hears from no member for the whole timeout declares its
// session expired, and its pending write fails with ErrSessionExpired.
func TestSessionExpiredByClient(t *testing.T) {
	s := newFakeServer(t)
	s.timeoutMs = 300
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record), WithDialTimeout(50*time.Millisecond))
	ctx := testCtx(t)
	s.setRefuse(true)
	s.withhold()
	defer s.release()
	_, err := c.Create(ctx, "/late", nil)
	wantCode(t, err, ErrSessionExpired, "create", "/late")
	log.await(t, StateExpired)
	if c.State() != StateExpired {
		t.Fatalf("State = %v", c.State())
	}
}

// A server that accepts connections but never answers (a paused process)
// must not use up the session: each attempt gets the session timeout
// divided by the number of servers, so the client moves on and resumes
// elsewhere. With only the dial timeout (5 s, longer than the session) as
// the bound, the session expired on the first server it tried.
func TestReconnectPastSilentServer(t *testing.T) {
	s := newFakeServer(t)
	s.timeoutMs = 1500
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	log := newStateLog()
	// The same fake member twice, around the silent one: the reconnect
	// starts after the server it lost, so it meets the silent one first.
	c, err := Connect(testCtx(t), []string{s.addr, silent.Addr().String(), s.addr},
		WithOrderedServers(), WithStateFunc(log.record), WithBackoff(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(testCtx(t))
	id := c.SessionID()
	s.dropAll()
	log.await(t, StateDisconnected)
	log.await(t, StateConnected)
	if _, err := c.Exists(testCtx(t), "/"); err != nil {
		t.Fatalf("after the reconnect: %v", err)
	}
	if c.SessionID() != id || c.State() != StateConnected {
		t.Fatalf("session %#x in state %v, want %#x connected", c.SessionID(), c.State(), id)
	}
}

// A reconnect with a session the member no longer knows ends the client.
func TestResumeRefused(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record))
	s.mu.Lock()
	s.sessions[c.SessionID()].gone = true
	s.mu.Unlock()
	s.dropAll()
	log.await(t, StateExpired)
	_, err := c.Exists(testCtx(t), "/")
	wantCode(t, err, ErrSessionExpired, "exists", "/")
}

func TestContextCancellation(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	s.withhold()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, _, err := c.Get(short, "/")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with an ended context: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Create(canceled, "/c", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a canceled context: %v", err)
	}
	s.release()
	if _, err := c.Create(ctx, "/after", nil); err != nil {
		t.Fatalf("Create after cancellations: %v", err)
	}
}

func TestClose(t *testing.T) {
	s := newFakeServer(t)
	log := newStateLog()
	c := connect(t, s, WithStateFunc(log.record))
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/eph", nil, WithMode(ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	log.await(t, StateClosed)
	if s.hasNode("/eph") {
		t.Fatal("the ephemeral outlived Close")
	}
	if _, err := c.Create(ctx, "/x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConnectFails(t *testing.T) {
	s := newFakeServer(t)
	s.setRefuse(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Connect(ctx, []string{s.addr}, WithBackoff(time.Millisecond, 10*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a refusing member: %v", err)
	}
	if _, err := Connect(ctx, nil); err == nil {
		t.Fatal("Connect with no servers succeeded")
	}
}

func TestPersistentWatches(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)

	w, err := c.AddWatch(ctx, "/pw", false)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := c.AddWatch(ctx, "/pw", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/pw", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/pw/a", nil); err != nil {
		t.Fatal(err)
	}
	s.dropAll() // watches are re-registered on the next connection
	if _, err := c.Set(ctx, "/pw/a", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		ev := recvEvent(t, w.Events())
		got = append(got, ev.Type.String()+" "+ev.Path)
	}
	if want := []string{"NodeCreated /pw", "NodeChildrenChanged /pw"}; !slices.Equal(got, want) {
		t.Fatalf("persistent events = %v, want %v", got, want)
	}
	got = nil
	for range 3 {
		ev := recvEvent(t, rw.Events())
		got = append(got, ev.Type.String()+" "+ev.Path)
	}
	if want := []string{"NodeCreated /pw", "NodeCreated /pw/a", "NodeDataChanged /pw/a"}; !slices.Equal(got, want) {
		t.Fatalf("recursive events = %v, want %v", got, want)
	}

	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok || !errors.Is(w.Err(), ErrClosed) {
		t.Fatalf("closed watcher: Err = %v", w.Err())
	}
	if s.hasWatch(c.SessionID(), "/pw", 4) {
		t.Fatal("Close left the watch on the member")
	}
	if !s.hasWatch(c.SessionID(), "/pw", 5) {
		t.Fatal("Close of one watcher removed another")
	}
}

func TestWatcherOverflow(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s, WithWatchBuffer(1))
	ctx := testCtx(t)
	w, err := c.AddWatch(ctx, "/o", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/o", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/o", nil, -1); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, w.Events()); ev.Type != EventNodeCreated {
		t.Fatalf("first event = %+v", ev)
	}
	if _, ok := <-w.Events(); ok || !errors.Is(w.Err(), ErrWatcherOverflow) {
		t.Fatalf("overflowed watcher: Err = %v", w.Err())
	}
}

// A read in flight when the connection drops is resent and answered; the
// caller never sees ConnectionLoss.
func TestReadRetriedAcrossDrop(t *testing.T) {
	s := newFakeServer(t)
	c := connect(t, s)
	ctx := testCtx(t)
	if _, err := c.Create(ctx, "/r", []byte("data")); err != nil {
		t.Fatal(err)
	}
	before := s.receivedCount()
	s.withhold()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, _, err := c.Get(ctx, "/r")
		done <- result{data, err}
	}()
	deadline := time.Now().Add(wait)
	for s.receivedCount() <= before {
		if time.Now().After(deadline) {
			t.Fatal("the member never received the read")
		}
		time.Sleep(time.Millisecond)
	}
	s.dropAll()
	s.release()
	select {
	case r := <-done:
		if r.err != nil || string(r.data) != "data" {
			t.Fatalf("Get across a drop = %q, %v", r.data, r.err)
		}
	case <-time.After(wait):
		t.Fatal("Get never returned")
	}
}

// Pings keep an idle session alive for several timeouts.
func TestIdleSessionKeptAlive(t *testing.T) {
	s := newFakeServer(t)
	s.timeoutMs = 600
	c := connect(t, s)
	id := c.SessionID()
	time.Sleep(4 * 600 * time.Millisecond)
	if _, err := c.Exists(testCtx(t), "/"); err != nil || c.SessionID() != id {
		t.Fatalf("after idling: %v, session %#x (was %#x)", err, c.SessionID(), id)
	}
	s.mu.Lock()
	received := s.received
	s.mu.Unlock()
	if received < 3 {
		t.Fatalf("the member received %d requests; pings missing", received)
	}
}
