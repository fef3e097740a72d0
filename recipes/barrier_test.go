package recipes_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// bqChildren returns the names of dir's children that contain tag (none if
// dir is missing).
func bqChildren(t testing.TB, c *client.Client, dir, tag string) []string {
	t.Helper()
	children, _, err := c.Children(ctxT(t, 10*time.Second), dir)
	if errors.Is(err, client.ErrNoNode) {
		return nil
	}
	if err != nil {
		t.Fatalf("children %s: %v", dir, err)
	}
	var out []string
	for _, name := range children {
		if strings.Contains(name, tag) {
			out = append(out, name)
		}
	}
	return out
}

func TestBarrierArgs(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	before, _, err := c.Children(ctxT(t, 10*time.Second), "/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	for _, path := range []string{"", "b", "/", "/b/", "/a//b", "/a/./b", "/a/../b", "/a\x00b"} {
		b := recipes.NewBarrier(c, path)
		for _, call := range []struct {
			name string
			f    func(context.Context) error
		}{{"Set", b.Set}, {"Remove", b.Remove}, {"Wait", b.Wait}} {
			if err := call.f(ctx); !errors.Is(err, client.ErrBadArguments) {
				t.Errorf("NewBarrier(%q).%s: %v; want ErrBadArguments", path, call.name, err)
			}
		}
	}
	if err := recipes.NewBarrier(nil, "/b").Set(ctx); !errors.Is(err, client.ErrBadArguments) || !strings.Contains(err.Error(), "nil client") {
		t.Errorf("NewBarrier(nil).Set: %v; want ErrBadArguments saying nil client", err)
	}
	for _, count := range []int{0, -1} {
		b := recipes.NewDoubleBarrier(c, "/db", count)
		for _, call := range []struct {
			name string
			f    func(context.Context) error
		}{{"Enter", b.Enter}, {"Leave", b.Leave}} {
			if err := call.f(ctx); !errors.Is(err, client.ErrBadArguments) || !strings.Contains(err.Error(), "count") {
				t.Errorf("NewDoubleBarrier(count %d).%s: %v; want ErrBadArguments about the count", count, call.name, err)
			}
		}
	}
	if err := recipes.NewDoubleBarrier(c, "db", 2).Enter(ctx); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("NewDoubleBarrier(\"db\").Enter: %v; want ErrBadArguments", err)
	}
	// Nothing was written.
	if after, _, err := c.Children(ctxT(t, 10*time.Second), "/"); err != nil || !slices.Equal(after, before) {
		t.Errorf("root after refused arguments: %v, %v; want %v as before", after, err, before)
	}
}

// Waiters are released only once the barrier is removed, and only then.
func TestBarrier(t *testing.T) {
	m := member(t)
	addrs := []string{m.Addr()}
	ctx := ctxT(t, 30*time.Second)
	owner := connect(t, addrs)
	b := recipes.NewBarrier(owner, "/app/start")
	// Waiting on a barrier never set returns at once.
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("wait on an unset barrier: %v", err)
	}
	for range 2 { // setting twice is fine
		if err := b.Set(ctx); err != nil {
			t.Fatalf("set: %v", err)
		}
	}
	const waiters = 12
	var removed atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	clients := make([]*client.Client, waiters)
	for i := range waiters {
		clients[i] = connect(t, addrs)
		wb := recipes.NewBarrier(clients[i], "/app/start")
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := wb.Wait(ctx)
			if err == nil && !removed.Load() {
				err = errors.New("released before the barrier was removed")
			}
			errs <- err
		}()
	}
	// Waiters whose connection drops (their member restarts) still wait,
	// and are still released.
	m.Restart()

	// A waiter that gives up gets its context's error.
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Wait(short); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a cancelled ctx: %v; want context.Canceled", err)
	}

	removed.Store(true)
	for range 2 { // removing twice is fine
		if err := b.Remove(ctx); err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
}

// dbParticipant is one participant of a double-barrier test, on its own
// session.
type dbParticipant struct {
	c *client.Client
	b *recipes.DoubleBarrier
}

func newDBParticipant(t *testing.T, addrs []string, dir string, count int, opts ...client.Option) dbParticipant {
	t.Helper()
	c := connect(t, addrs, opts...)
	b := recipes.NewDoubleBarrier(c, dir, count)
	return dbParticipant{c, b}
}

// Twelve participants enter together, a thirteenth arriving after the
// release joins the round, and no one leaves before all have left.
func TestDoubleBarrier(t *testing.T) {
	m := member(t)
	addrs := []string{m.Addr()}
	ctx := ctxT(t, 40*time.Second)
	const count, dir = 12, "/jobs/db"
	watcher := connect(t, addrs)
	ps := make([]dbParticipant, count+1)
	for i := range ps {
		ps[i] = newDBParticipant(t, addrs, dir, count)
	}

	var lastStarted atomic.Bool
	entered := make(chan error, count)
	for i := range count - 1 {
		go func() {
			err := ps[i].b.Enter(ctx)
			if err == nil && !lastStarted.Load() {
				err = errors.New("entered before the count-th participant arrived")
			}
			entered <- err
		}()
	}
	eventually(t, "11 participants in", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == count-1 })
	select {
	case err := <-entered:
		t.Fatalf("an Enter returned with %d of %d participants in: %v", count-1, count, err)
	default:
	}
	lastStarted.Store(true)
	go func() { entered <- ps[count-1].b.Enter(ctx) }()
	for range count {
		if err := <-entered; err != nil {
			t.Fatalf("enter: %v", err)
		}
	}

	// The late arrival finds the barrier open and enters at once.
	late := ps[count]
	if err := late.b.Enter(ctx); err != nil {
		t.Fatalf("late enter: %v", err)
	}
	if err := late.b.Enter(ctx); err == nil {
		t.Errorf("entering twice: no error")
	}

	// All but the late one leave; none may return before it leaves too.
	var lateLeft atomic.Bool
	left := make(chan error, count)
	for i := range count {
		go func() {
			err := ps[i].b.Leave(ctx)
			if err == nil && !lateLeft.Load() {
				err = errors.New("left before every participant left")
			}
			left <- err
		}()
	}
	// The non-lowest delete their nodes at once; the lowest waits for the
	// highest, the late arrival, which is still in.
	eventually(t, "the leaving participants gone but the lowest", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 2 })
	select {
	case err := <-left:
		t.Fatalf("a Leave returned while the late participant was still in: %v", err)
	default:
	}
	lateLeft.Store(true)
	if err := late.b.Leave(ctx); err != nil {
		t.Fatalf("late leave: %v", err)
	}
	for range count {
		if err := <-left; err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
	if err := late.b.Leave(ctx); !errors.Is(err, recipes.ErrNotEntered) {
		t.Errorf("leaving twice: %v; want ErrNotEntered", err)
	}
	// The round is closed: nothing of it is left but the (container) dir.
	if got := bqChildren(t, watcher, dir, ""); len(got) != 0 {
		t.Errorf("after the round: %v left in %s", got, dir)
	}

	// The same participants go through a second round, on the same dir.
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ps[i].b.Enter(ctx); err != nil {
				errs <- err
				return
			}
			errs <- ps[i].b.Leave(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("second round: %v", err)
		}
	}
}

// A participant whose session expires while it waits in Enter is no longer
// counted: the barrier opens only when count live participants are in. A
// member crash moves the others' connections meanwhile.
func TestDoubleBarrierExpiryMidEnter(t *testing.T) {
	t.Parallel() // most of a 3-member cluster test is waiting (its teardown alone takes seconds)
	cl := cluster3(t)
	ctx := ctxT(t, 40*time.Second)
	const count, dir = 4, "/jobs/expiry"
	watcher := connect(t, cl.Addrs())
	victimMember := cl.Members()[0]
	victim := newDBParticipant(t, []string{victimMember.Addr()}, dir, count, client.WithSessionTimeout(800*time.Millisecond))
	var others []dbParticipant
	for range count {
		others = append(others, newDBParticipant(t, cl.Addrs(), dir, count))
	}

	var lastStarted atomic.Bool
	entered := make(chan error, count+1)
	enter := func(p dbParticipant) {
		err := p.b.Enter(ctx)
		if err == nil && !lastStarted.Load() {
			err = errors.New("entered before count live participants were in")
		}
		entered <- err
	}
	go enter(victim)
	go enter(others[0])
	go enter(others[1])
	eventually(t, "3 participants in", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 3 })

	expire(t, victimMember, victim.c)
	if err := <-entered; !errors.Is(err, client.ErrSessionExpired) {
		t.Fatalf("the expired participant's Enter: %v; want ErrSessionExpired", err)
	}
	eventually(t, "the expired participant's node gone", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 2 })

	// A third live participant makes count-1 live ones: still closed.
	go enter(others[2])
	eventually(t, "3 live participants in", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 3 })
	select {
	case err := <-entered:
		t.Fatalf("an Enter returned with %d live participants of %d: %v", count-1, count, err)
	default:
	}
	// A member crash: whoever was on it moves to another.
	cl.WaitLeader().Stop()
	lastStarted.Store(true)
	go enter(others[3])
	for range count {
		if err := <-entered; err != nil {
			t.Fatalf("enter: %v", err)
		}
	}
	var wg sync.WaitGroup
	for _, p := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.b.Leave(ctx); err != nil {
				t.Errorf("leave: %v", err)
			}
		}()
	}
	wg.Wait()
}

// An Enter given up withdraws its participant, so that it is not counted.
func TestDoubleBarrierEnterCancelled(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const dir = "/jobs/cancel"
	watcher := connect(t, []string{m.Addr()})
	p := newDBParticipant(t, []string{m.Addr()}, dir, 2)
	enterCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.b.Enter(enterCtx) }()
	eventually(t, "the participant in", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Enter: %v; want context.Canceled", err)
	}
	if got := bqChildren(t, watcher, dir, "p-"); len(got) != 0 {
		t.Fatalf("after a cancelled Enter: %v still in", got)
	}
	if err := p.b.Leave(ctx); !errors.Is(err, recipes.ErrNotEntered) {
		t.Errorf("leave after a cancelled Enter: %v; want ErrNotEntered", err)
	}
	// A barrier of one opens at once, and the participant can go again.
	one := newDBParticipant(t, []string{m.Addr()}, "/jobs/one", 1)
	for range 2 {
		if err := one.b.Enter(ctx); err != nil {
			t.Fatalf("enter a barrier of one: %v", err)
		}
		if err := one.b.Leave(ctx); err != nil {
			t.Fatalf("leave a barrier of one: %v", err)
		}
	}
}

// A round whose participants all vanish (their sessions end) before
// leaving leaves its ready node behind; the next arrival must not take it
// for an open barrier.
func TestDoubleBarrierStaleRound(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const dir = "/jobs/stale"
	addrs := []string{m.Addr()}
	watcher := connect(t, addrs)
	gone := newDBParticipant(t, addrs, dir, 1, client.WithSessionTimeout(800*time.Millisecond))
	if err := gone.b.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	if len(bqChildren(t, watcher, dir, "ready")) != 1 {
		t.Fatal("no ready node after a barrier of one was entered")
	}
	expire(t, m, gone.c)
	eventually(t, "the vanished participant's node gone", func() bool { return len(bqChildren(t, watcher, dir, "p-")) == 0 })

	first := newDBParticipant(t, addrs, dir, 2)
	var secondStarted atomic.Bool
	entered := make(chan error, 2)
	go func() {
		err := first.b.Enter(ctx)
		if err == nil && !secondStarted.Load() {
			err = errors.New("entered alone through a stale ready node")
		}
		entered <- err
	}()
	eventually(t, "the stale ready node gone and the first participant in", func() bool {
		select {
		case err := <-entered:
			t.Fatalf("the first participant's Enter returned alone: %v", err)
		default:
		}
		return len(bqChildren(t, watcher, dir, "ready")) == 0 && len(bqChildren(t, watcher, dir, "p-")) == 1
	})
	second := newDBParticipant(t, addrs, dir, 2)
	secondStarted.Store(true)
	go func() { entered <- second.b.Enter(ctx) }()
	for range 2 {
		if err := <-entered; err != nil {
			t.Fatalf("enter: %v", err)
		}
	}
	for _, p := range []dbParticipant{first, second} {
		go func() { entered <- p.b.Leave(ctx) }()
	}
	for range 2 {
		if err := <-entered; err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
}

// A participant whose session ends before it leaves counts as having
// left: the others' Leave returns.
func TestDoubleBarrierExpiryBeforeLeave(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const count, dir = 3, "/jobs/leave"
	addrs := []string{m.Addr()}
	victim := newDBParticipant(t, addrs, dir, count, client.WithSessionTimeout(800*time.Millisecond))
	ps := []dbParticipant{victim, newDBParticipant(t, addrs, dir, count), newDBParticipant(t, addrs, dir, count)}
	done := make(chan error, count)
	for _, p := range ps {
		go func() { done <- p.b.Enter(ctx) }()
	}
	for range count {
		if err := <-done; err != nil {
			t.Fatalf("enter: %v", err)
		}
	}
	var victimGone atomic.Bool
	for _, p := range ps[1:] {
		go func() {
			err := p.b.Leave(ctx)
			if err == nil && !victimGone.Load() {
				err = errors.New("left while the victim was still in")
			}
			done <- err
		}()
	}
	watcher := connect(t, addrs)
	eventually(t, "the leavers gone but the lowest", func() bool { return len(bqChildren(t, watcher, dir, "p-")) <= 2 })
	victimGone.Store(true)
	expire(t, m, victim.c)
	for range count - 1 {
		if err := <-done; err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
	if got := bqChildren(t, watcher, dir, ""); len(got) != 0 {
		t.Errorf("after the round: %v left in %s", got, dir)
	}
}
