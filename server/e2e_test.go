package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// The end-to-end tests: a real member on a loopback port, the real Go
// client, over WebSocket.

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func connectTo(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Connect(ctxFor(t, 10*time.Second), []string{addr}, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func connect(t *testing.T, m *servertest.Member, opts ...client.Option) *client.Client {
	t.Helper()
	return connectTo(t, m.Addr(), opts...)
}

// must fails the test on an error and otherwise returns the value:
// must(c.Create(ctx, p, nil))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func wantCode(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// nextEvent waits for one event on ch.
func nextEvent(t *testing.T, ch <-chan client.Event, d time.Duration) client.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed without an event")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return client.Event{}
}

func noEvent(t *testing.T, ch <-chan client.Event, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(d):
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpsAndErrors(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m)
	ctx := ctxFor(t, 20*time.Second)

	if p := must(c.Create(ctx, "/a", []byte("hello")))(t); p != "/a" {
		t.Fatalf("create returned %q", p)
	}
	_, err := c.Create(ctx, "/a", nil)
	wantCode(t, "create existing", err, client.ErrNodeExists)
	_, err = c.Create(ctx, "/missing/child", nil)
	wantCode(t, "create without parent", err, client.ErrNoNode)
	if p := must(c.Create(ctx, "/x/y/z", []byte("deep"), client.WithParents()))(t); p != "/x/y/z" {
		t.Fatalf("create with parents returned %q", p)
	}

	data, st, err := c.Get(ctx, "/a")
	if err != nil || string(data) != "hello" || st.Version != 0 || st.DataLength != 5 || st.Czxid == 0 || st.Czxid != st.Mzxid {
		t.Fatalf("get: %q %+v %v", data, st, err)
	}
	_, _, err = c.Get(ctx, "/nope")
	wantCode(t, "get missing", err, client.ErrNoNode)

	st2 := must(c.Set(ctx, "/a", []byte("v1"), 0))(t)
	if st2.Version != 1 || st2.Mzxid <= st.Mzxid || st2.Czxid != st.Czxid {
		t.Fatalf("set stat %+v after %+v", st2, st)
	}
	_, err = c.Set(ctx, "/a", []byte("v2"), 0)
	wantCode(t, "set with old version", err, client.ErrBadVersion)
	_, err = c.Set(ctx, "/nope", nil, -1)
	wantCode(t, "set missing", err, client.ErrNoNode)

	if st := must(c.Exists(ctx, "/a"))(t); st.Version != 1 {
		t.Fatalf("exists stat %+v", st)
	}
	_, err = c.Exists(ctx, "/nope")
	wantCode(t, "exists missing", err, client.ErrNoNode)

	for _, n := range []string{"c", "a", "b"} {
		must(c.Create(ctx, "/a/"+n, nil))(t)
	}
	names, pst, err := c.Children(ctx, "/a")
	if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) || pst.NumChildren != 3 {
		t.Fatalf("children: %v %+v %v", names, pst, err)
	}
	wantCode(t, "delete non-empty", c.Delete(ctx, "/a", -1), client.ErrNotEmpty)
	wantCode(t, "delete bad version", c.Delete(ctx, "/a/a", 5), client.ErrBadVersion)
	if err := c.Delete(ctx, "/a/a", 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete missing", c.Delete(ctx, "/a/a", -1), client.ErrNoNode)

	// Multi: all or nothing, with per-op results.
	res, err := c.Multi(ctx,
		client.CreateOp("/m1", []byte("1")),
		client.CheckOp("/a", 1),
		client.CreateOp("/a/b", nil), // exists: the multi fails here
		client.SetOp("/a", nil, -1))
	wantCode(t, "failing multi", err, client.ErrNodeExists)
	if len(res) != 4 || res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, client.ErrNodeExists) || !errors.Is(res[3].Err, client.ErrRuntimeInconsistency) {
		t.Fatalf("failing multi results: %+v", res)
	}
	_, err = c.Exists(ctx, "/m1")
	wantCode(t, "create rolled back", err, client.ErrNoNode)
	res, err = c.Multi(ctx, client.CreateOp("/m1", nil), client.SetOp("/a", []byte("m"), 1), client.DeleteOp("/a/c", -1), client.CheckOp("/a/b", 0))
	if err != nil || res[0].Path != "/m1" || res[1].Stat.Version != 2 {
		t.Fatalf("multi: %+v %v", res, err)
	}

	// Sequential names come from the parent's creation count.
	for i := 0; i < 3; i++ {
		p := must(c.Create(ctx, "/seq/job-", nil, client.WithMode(client.ModePersistentSequential), client.WithParents()))(t)
		if want := fmt.Sprintf("/seq/job-%010d", i); p != want {
			t.Fatalf("sequential create %d: %q, want %q", i, p, want)
		}
	}

	// Ephemerals: no children; owner recorded.
	must(c.Create(ctx, "/eph", nil, client.WithMode(client.ModeEphemeral)))(t)
	_, err = c.Create(ctx, "/eph/child", nil)
	wantCode(t, "child of ephemeral", err, client.ErrNoChildrenForEphemerals)
	if st := must(c.Exists(ctx, "/eph"))(t); st.EphemeralOwner != c.SessionID() {
		t.Fatalf("ephemeral owner %#x, session %#x", st.EphemeralOwner, c.SessionID())
	}
	p := must(c.Create(ctx, "/eseq-", nil, client.WithMode(client.ModeEphemeralSequential)))(t)
	if !strings.HasPrefix(p, "/eseq-") || len(p) != len("/eseq-")+10 {
		t.Fatalf("ephemeral sequential path %q", p)
	}

	// ACLs.
	acl, _, err := c.GetACL(ctx, "/a")
	if err != nil || len(acl) != 1 || acl[0].Scheme != "world" || acl[0].ID != "anyone" {
		t.Fatalf("getACL: %+v %v", acl, err)
	}
	must(c.Create(ctx, "/ro", nil, client.WithACL(client.WorldACL(client.PermRead)...)))(t)
	_, err = c.Set(ctx, "/ro", []byte("x"), -1)
	wantCode(t, "set without WRITE", err, client.ErrNoAuth)
	_, err = c.Create(ctx, "/bad-acl", nil, client.WithACL(client.ACL{Perms: client.PermAll, Scheme: "nope", ID: "x"}))
	wantCode(t, "unknown ACL scheme", err, client.ErrInvalidACL)
	_, err = c.SetACL(ctx, "/ro", client.WorldACL(client.PermAll), 0)
	wantCode(t, "setACL without ADMIN", err, client.ErrNoAuth)

	// The reserved subtree.
	_, err = c.Create(ctx, "/arbor/x", nil)
	wantCode(t, "create in /arbor", err, client.ErrNoAuth)

	// Sync answers, and a read after it sees every write.
	if err := c.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
}

func TestBadArgumentsChangeNothing(t *testing.T) {
	m := servertest.Start(t, server.Config{MaxDataBytes: 1024})
	c := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	for _, p := range []string{"", "a", "/a/", "/a//b", "/a/./b", "/a/../b", "/a\x00b"} {
		_, err := c.Create(ctx, p, nil)
		wantCode(t, fmt.Sprintf("create %q", p), err, client.ErrBadArguments)
	}
	_, err := c.Create(ctx, "/big", make([]byte, 1025))
	wantCode(t, "data over the member's limit", err, client.ErrBadArguments)
	_, err = c.Create(ctx, "/ttl", nil, client.WithTTL(time.Second)) // TTL without a TTL mode
	wantCode(t, "ttl on a persistent node", err, client.ErrBadArguments)
	names := must2(t, c.Children, ctx, "/")
	if !slices.Equal(names, []string{"arbor"}) {
		t.Fatalf("root holds %v after refused requests", names)
	}
}

func must2(t *testing.T, f func(context.Context, string) ([]string, client.Stat, error), ctx context.Context, p string) []string {
	t.Helper()
	v, _, err := f(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestContainerAndTTLReaped(t *testing.T) {
	m := servertest.Start(t, server.Config{ReapInterval: 20 * time.Millisecond})
	c := connect(t, m)
	ctx := ctxFor(t, 20*time.Second)
	must(c.Create(ctx, "/box", nil, client.WithMode(client.ModeContainer)))(t)
	must(c.Create(ctx, "/box/item", nil))(t)
	must(c.Create(ctx, "/ttl", nil, client.WithMode(client.ModePersistentTTL), client.WithTTL(50*time.Millisecond)))(t)
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Exists(ctx, "/box"); err != nil {
		t.Fatalf("container with a child was reaped: %v", err)
	}
	if err := c.Delete(ctx, "/box/item", -1); err != nil {
		t.Fatal(err)
	}
	gone := func(p string) func() bool {
		return func() bool { _, err := c.Exists(ctx, p); return errors.Is(err, client.ErrNoNode) }
	}
	waitFor(t, 10*time.Second, "empty container reaped", gone("/box"))
	waitFor(t, 10*time.Second, "expired TTL node reaped", gone("/ttl"))
}

func TestEphemeralsEndWithSession(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	owner := connect(t, m)
	watcher := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	must(owner.Create(ctx, "/e", nil, client.WithMode(client.ModeEphemeral)))(t)
	_, ch, err := watcher.ExistsW(ctx, "/e")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close returns after the session ended: the node is gone already.
	if _, err := watcher.Exists(ctx, "/e"); !errors.Is(err, client.ErrNoNode) {
		t.Fatalf("ephemeral after its session closed: %v", err)
	}
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != client.EventNodeDeleted || ev.Path != "/e" {
		t.Fatalf("event %+v", ev)
	}
}

func TestSessionExpiry(t *testing.T) {
	m := servertest.Start(t, server.Config{MinSessionTimeout: 200 * time.Millisecond, MaxSessionTimeout: 2 * time.Second})
	px := newProxy(t, m.Addr())
	states := make(chan client.State, 16)
	owner := connectTo(t, px.Addr(), client.WithSessionTimeout(300*time.Millisecond), client.WithStateFunc(func(s client.State) { states <- s }))
	watcher := connect(t, m)
	ctx := ctxFor(t, 20*time.Second)
	must(owner.Create(ctx, "/lease", nil, client.WithMode(client.ModeEphemeral)))(t)
	_, _, ch, err := watcher.GetW(ctx, "/lease")
	if err != nil {
		t.Fatal(err)
	}
	px.cut(true) // the owner is partitioned away for good
	ev := nextEvent(t, ch, 10*time.Second)
	if ev.Type != client.EventNodeDeleted || ev.Path != "/lease" {
		t.Fatalf("event %+v", ev)
	}
	// The partitioned client declares its own session expired.
	select {
	case <-owner.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("partitioned client did not declare its session expired")
	}
	wantCode(t, "partitioned client's error", owner.Err(), client.ErrSessionExpired)
	_, err = owner.Exists(ctx, "/")
	wantCode(t, "operation after expiry", err, client.ErrSessionExpired)

	// Coming back after expiry does not revive the session.
	px.setRefuse(false)
	_, err = client.Connect(ctx, []string{px.Addr()})
	if err != nil {
		t.Fatalf("a new session after expiry: %v", err)
	}
}

func TestSessionResumeKeepsEphemeralsAndWatches(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	px := newProxy(t, m.Addr())
	c := connectTo(t, px.Addr(), client.WithSessionTimeout(10*time.Second), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	other := connect(t, m)
	ctx := ctxFor(t, 20*time.Second)
	id := c.SessionID()
	must(c.Create(ctx, "/mine", nil, client.WithMode(client.ModeEphemeral)))(t)
	must(other.Create(ctx, "/data", []byte("v0")))(t)
	must(other.Create(ctx, "/kids", nil))(t)
	_, _, dataCh, err := c.GetW(ctx, "/data")
	if err != nil {
		t.Fatal(err)
	}
	_, existsCh, err := c.ExistsW(ctx, "/later")
	if err != nil && !errors.Is(err, client.ErrNoNode) {
		t.Fatal(err)
	}
	_, _, kidsCh, err := c.ChildrenW(ctx, "/kids")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := c.AddWatch(ctx, "/data", false)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := c.AddWatch(ctx, "/kids", true)
	if err != nil {
		t.Fatal(err)
	}

	px.cut(true)
	// Changes made while the client is away.
	must(other.Set(ctx, "/data", []byte("v1"), -1))(t)
	must(other.Create(ctx, "/later", nil))(t)
	must(other.Create(ctx, "/kids/k1", nil))(t)
	px.setRefuse(false)

	if ev := nextEvent(t, dataCh, 10*time.Second); ev.Type != client.EventNodeDataChanged || !ev.CatchUp {
		t.Fatalf("data watch catch-up: %+v", ev)
	}
	if ev := nextEvent(t, existsCh, 5*time.Second); ev.Type != client.EventNodeCreated || ev.Path != "/later" {
		t.Fatalf("exists watch catch-up: %+v", ev)
	}
	if ev := nextEvent(t, kidsCh, 5*time.Second); ev.Type != client.EventNodeChildrenChanged || ev.Path != "/kids" {
		t.Fatalf("child watch catch-up: %+v", ev)
	}
	if ev := nextEvent(t, pw.Events(), 5*time.Second); ev.Type != client.EventNodeDataChanged || ev.Path != "/data" {
		t.Fatalf("persistent watch catch-up: %+v", ev)
	}
	// A recursive watch's catch-up says "children changed" on a node whose
	// child list changed (a deletion leaves no other trace), then reports
	// each node created or changed below it.
	if ev := nextEvent(t, rw.Events(), 5*time.Second); ev.Type != client.EventNodeChildrenChanged || ev.Path != "/kids" || !ev.CatchUp {
		t.Fatalf("recursive watch catch-up: %+v", ev)
	}
	if ev := nextEvent(t, rw.Events(), 5*time.Second); ev.Type != client.EventNodeCreated || ev.Path != "/kids/k1" || !ev.CatchUp {
		t.Fatalf("recursive watch catch-up: %+v", ev)
	}
	if c.SessionID() != id {
		t.Fatalf("session changed from %#x to %#x", id, c.SessionID())
	}
	if st := must(other.Exists(ctx, "/mine"))(t); st.EphemeralOwner != id {
		t.Fatalf("ephemeral owner %#x after resume", st.EphemeralOwner)
	}
	// The persistent watches live on after the catch-up.
	must(other.Set(ctx, "/data", []byte("v2"), -1))(t)
	if ev := nextEvent(t, pw.Events(), 5*time.Second); ev.Type != client.EventNodeDataChanged || ev.CatchUp {
		t.Fatalf("persistent watch after resume: %+v", ev)
	}
	must(other.Create(ctx, "/kids/k2", nil))(t)
	if ev := nextEvent(t, rw.Events(), 5*time.Second); ev.Type != client.EventNodeCreated || ev.Path != "/kids/k2" {
		t.Fatalf("recursive watch after resume: %+v", ev)
	}
}

func TestWatchKinds(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m)
	w := connect(t, m)
	ctx := ctxFor(t, 20*time.Second)
	quiet := 100 * time.Millisecond

	// Exists on a missing node fires on its creation, once.
	_, ch, err := w.ExistsW(ctx, "/n")
	wantCode(t, "existsW on a missing node", err, client.ErrNoNode)
	must(c.Create(ctx, "/n", nil))(t)
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != client.EventNodeCreated || ev.Path != "/n" || ev.Zxid == 0 {
		t.Fatalf("exists watch: %+v", ev)
	}
	// A data watch fires once: the second change is not reported.
	_, _, ch, err = w.GetW(ctx, "/n")
	if err != nil {
		t.Fatal(err)
	}
	must(c.Set(ctx, "/n", []byte("1"), -1))(t)
	must(c.Set(ctx, "/n", []byte("2"), -1))(t)
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != client.EventNodeDataChanged {
		t.Fatalf("data watch: %+v", ev)
	}
	noEvent(t, ch, quiet)
	// A child watch fires on a child's creation, not on the node's data.
	_, _, ch, err = w.ChildrenW(ctx, "/n")
	if err != nil {
		t.Fatal(err)
	}
	must(c.Set(ctx, "/n", []byte("3"), -1))(t)
	must(c.Create(ctx, "/n/c", nil))(t)
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != client.EventNodeChildrenChanged || ev.Path != "/n" {
		t.Fatalf("child watch: %+v", ev)
	}
	// A data watch on a node fires NodeDeleted when it goes.
	_, _, ch, err = w.GetW(ctx, "/n/c")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/n/c", -1); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != client.EventNodeDeleted || ev.Path != "/n/c" {
		t.Fatalf("data watch on delete: %+v", ev)
	}

	// Persistent: every event of the exact path, until closed.
	pw, err := w.AddWatch(ctx, "/n", false)
	if err != nil {
		t.Fatal(err)
	}
	must(c.Set(ctx, "/n", []byte("4"), -1))(t)
	must(c.Create(ctx, "/n/d", nil))(t)
	if err := c.Delete(ctx, "/n/d", -1); err != nil {
		t.Fatal(err)
	}
	want := []client.EventType{client.EventNodeDataChanged, client.EventNodeChildrenChanged, client.EventNodeChildrenChanged}
	var last uint64
	for i, typ := range want {
		ev := nextEvent(t, pw.Events(), 5*time.Second)
		if ev.Type != typ || ev.Path != "/n" || ev.Zxid <= last {
			t.Fatalf("persistent event %d: %+v (want %v after zxid %d)", i, ev, typ, last)
		}
		last = ev.Zxid
	}
	if err := pw.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Recursive: created, changed and deleted below, never child events.
	rw, err := w.AddWatch(ctx, "/n", true)
	if err != nil {
		t.Fatal(err)
	}
	must(c.Create(ctx, "/n/e", nil))(t)
	must(c.Create(ctx, "/n/e/f", nil))(t)
	must(c.Set(ctx, "/n/e/f", []byte("x"), -1))(t)
	if err := c.Delete(ctx, "/n/e/f", -1); err != nil {
		t.Fatal(err)
	}
	type pe struct {
		typ client.EventType
		p   string
	}
	for i, w := range []pe{{client.EventNodeCreated, "/n/e"}, {client.EventNodeCreated, "/n/e/f"}, {client.EventNodeDataChanged, "/n/e/f"}, {client.EventNodeDeleted, "/n/e/f"}} {
		if ev := nextEvent(t, rw.Events(), 5*time.Second); ev.Type != w.typ || ev.Path != w.p {
			t.Fatalf("recursive event %d: %+v, want %v %s", i, ev, w.typ, w.p)
		}
	}
	if err := rw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	must(c.Set(ctx, "/n", []byte("5"), -1))(t)
	noEvent(t, rw.Events(), quiet)
}

// TestEventBeforeData: a client that reads a changed node has already
// been sent the watch event of the change.
func TestEventBeforeData(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	writer := connect(t, m)
	reader := connect(t, m)
	ctx := ctxFor(t, 30*time.Second)
	must(writer.Create(ctx, "/v", []byte("0")))(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 300 && ctx.Err() == nil; i++ {
			if _, err := writer.Set(ctx, "/v", []byte(fmt.Sprint(i)), -1); err != nil {
				return
			}
		}
	}()
	checked := 0
	for i := 0; i < 300; i++ {
		_, st, ch, err := reader.GetW(ctx, "/v")
		if err != nil {
			t.Fatal(err)
		}
		// Read until the node changed; the event must be there by then.
		for {
			_, st2, err := reader.Get(ctx, "/v")
			if err != nil {
				t.Fatal(err)
			}
			if st2.Version != st.Version {
				select {
				case ev := <-ch:
					if ev.Type != client.EventNodeDataChanged {
						t.Fatalf("event %+v", ev)
					}
				default:
					t.Fatalf("read version %d before the event of the change from version %d", st2.Version, st.Version)
				}
				checked++
				break
			}
			select {
			case <-done:
			default:
				continue
			}
			break
		}
		select {
		case <-done:
			i = 300
		default:
		}
	}
	<-done
	if checked == 0 {
		t.Fatal("no change observed")
	}
}

func TestDigestACL(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	alice := connect(t, m, client.WithAuth("digest", []byte("alice:secret")))
	anon := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	aliceOnly := []client.ACL{{Perms: client.PermAll, Scheme: "auth"}}
	must(alice.Create(ctx, "/private", []byte("s"), client.WithACL(aliceOnly...)))(t)
	acl, _, err := alice.GetACL(ctx, "/private")
	if err != nil || len(acl) != 1 || acl[0].Scheme != "digest" || !strings.HasPrefix(acl[0].ID, "alice:") {
		t.Fatalf("auth ACL stored as %+v (%v)", acl, err)
	}
	_, _, err = anon.Get(ctx, "/private")
	wantCode(t, "read without identity", err, client.ErrNoAuth)
	// The exists watch of a session without READ stays silent.
	_, silent, err := anon.ExistsW(ctx, "/private")
	if err != nil {
		t.Fatal(err)
	}
	must(alice.Set(ctx, "/private", []byte("t"), -1))(t)
	noEvent(t, silent, 100*time.Millisecond)

	wantCode(t, "add_auth with a bad form", anon.AddAuth(ctx, "digest", []byte("no-colon")), client.ErrAuthFailed)
	wantCode(t, "add_auth with an unknown scheme", anon.AddAuth(ctx, "kerberos", []byte("x")), client.ErrAuthFailed)
	if err := anon.AddAuth(ctx, "digest", []byte("alice:wrong")); err != nil {
		t.Fatal(err) // a digest identity always authenticates; it just matches nothing
	}
	_, _, err = anon.Get(ctx, "/private")
	wantCode(t, "read with the wrong password", err, client.ErrNoAuth)
	if err := anon.AddAuth(ctx, "digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := anon.Get(ctx, "/private"); err != nil || string(data) != "t" {
		t.Fatalf("read with the right identity: %q %v", data, err)
	}
}

func TestSyncSeesOtherClientsWrites(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	a := connect(t, m)
	b := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	for i := 0; i < 20; i++ {
		p := fmt.Sprintf("/s%d", i)
		must(a.Create(ctx, p, nil))(t)
		if err := b.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Exists(ctx, p); err != nil {
			t.Fatalf("after sync, %s: %v", p, err)
		}
	}
}

func TestRestartKeepsDataAndSessions(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m, client.WithSessionTimeout(20*time.Second), client.WithBackoff(5*time.Millisecond, 100*time.Millisecond))
	ctx := ctxFor(t, 30*time.Second)
	id := c.SessionID()
	for i := 0; i < 50; i++ {
		must(c.Create(ctx, fmt.Sprintf("/r%02d", i), []byte{byte(i)}))(t)
	}
	must(c.Create(ctx, "/eph", nil, client.WithMode(client.ModeEphemeral)))(t)
	m.Restart()
	names := must2(t, c.Children, ctx, "/")
	if len(names) != 52 { // 50, /eph and /arbor
		t.Fatalf("%d children after restart: %v", len(names), names)
	}
	if c.SessionID() != id {
		t.Fatal("session changed across a member restart")
	}
	if st := must(c.Exists(ctx, "/eph"))(t); st.EphemeralOwner != id {
		t.Fatalf("ephemeral after restart: %+v", st)
	}
	if data, _, err := c.Get(ctx, "/r07"); err != nil || len(data) != 1 || data[0] != 7 {
		t.Fatalf("data after restart: %v %v", data, err)
	}
}

func TestReadsOfSeveralKinds(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	must(c.Create(ctx, "/app/job-0001", []byte("a"), client.WithParents(), client.WithMode(client.ModeEphemeral)))(t)
	must(c.Create(ctx, "/app/job-0002", nil, client.WithMode(client.ModeEphemeral)))(t)
	must(c.Create(ctx, "/app/other", nil, client.WithMode(client.ModeEphemeral)))(t)
	got := must(c.GetEphemerals(ctx, "/app/job-"))(t)
	if !slices.Equal(got, []string{"/app/job-0001", "/app/job-0002"}) {
		t.Fatalf("ephemerals by prefix: %v", got)
	}
	if n := must(c.CountDescendants(ctx, "/"))(t); n != 5 { // /arbor, /app and its three
		t.Fatalf("descendants of /: %d", n)
	}
	res, err := c.ReadMulti(ctx, client.GetOp("/app/job-0001"), client.ChildrenOp("/app"), client.ExistsOp("/nope"))
	if err != nil || string(res[0].Data) != "a" || len(res[1].Children) != 3 || !errors.Is(res[2].Err, client.ErrNoNode) {
		t.Fatalf("read multi: %+v %v", res, err)
	}
	if uint64(res[0].Stat.Mzxid) > c.LastZxid() {
		t.Fatalf("last zxid %d behind a read's mzxid %d", c.LastZxid(), res[0].Stat.Mzxid)
	}
	// RemoveWatches: a removed one-shot watch never fires.
	_, _, ch, err := c.GetW(ctx, "/app/other")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveWatches(ctx, "/app/other", client.WatchData); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "removing it again", c.RemoveWatches(ctx, "/app/other", client.WatchData), client.ErrNoWatcher)
	must(c.Set(ctx, "/app/other", []byte("x"), -1))(t)
	noEvent(t, ch, 100*time.Millisecond)
}
