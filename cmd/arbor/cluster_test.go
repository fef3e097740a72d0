package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// These tests run a cluster of three arbor server processes on loopback
// ports and check, through the Go client and the CLI, what a user relies
// on when members crash, restart or are misconfigured. They assert
// outcomes, never durations (the machine may be slow and shared): the
// durations are logged.

// clusterWait bounds every wait on a cluster: an election, a catch-up, a
// retried write.
const clusterWait = 30 * time.Second

// clusterLogLevel is the members' log level; their logs are printed when a
// test fails.
const clusterLogLevel = "info"

// sessionTimeout is the clients' session timeout: long enough for an
// election on a slow machine, short enough that a session the cluster
// lost track of would expire within the test.
const sessionTimeout = 5 * time.Second

// clusterMember is one member of a test cluster: its addresses, its data
// directory and the process serving it now (procs holds every process it
// has had, for their logs).
type clusterMember struct {
	id         uint64
	addr, peer string // client and peer addresses
	dir        string
	p          *proc
	procs      []*proc
}

type procCluster struct {
	t       *testing.T
	members []*clusterMember
	spec    string // the --cluster value
	http    *http.Client
}

// startCluster starts three members and waits until each accepts
// connections (not until they have a leader: see waitLeader).
func startCluster(t *testing.T) *procCluster {
	t.Helper()
	c := &procCluster{
		t:    t,
		http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	var spec []string
	for id := uint64(1); id <= 3; id++ {
		m := &clusterMember{id: id, addr: freeAddr(t), peer: freeAddr(t), dir: t.TempDir()}
		c.members = append(c.members, m)
		spec = append(spec, fmt.Sprintf("%d=%s", id, m.peer))
	}
	c.spec = strings.Join(spec, ",")
	for _, m := range c.members {
		c.run(m, "--id", strconv.FormatUint(m.id, 10), "--cluster", c.spec)
	}
	// Registered after the processes' cleanups, so it runs before them.
	t.Cleanup(func() {
		if t.Failed() {
			c.logs()
		}
	})
	return c
}

// run starts m's process with its client address, data dir and log level,
// plus args.
func (c *procCluster) run(m *clusterMember, args ...string) {
	c.t.Helper()
	args = append([]string{"--listen", m.addr, "--data-dir", m.dir, "--log-level", clusterLogLevel}, args...)
	m.p = startServer(c.t, m.addr, cleanEnv(c.t), args...)
	m.procs = append(m.procs, m.p)
}

// restart starts m again as an operator would after a crash or a stop:
// with only its data dir and client address (and log level).
func (c *procCluster) restart(m *clusterMember) {
	c.t.Helper()
	c.run(m)
}

// logs prints the tail of every member process's stderr.
func (c *procCluster) logs() {
	const tail = 4000
	for _, m := range c.members {
		for i, p := range m.procs {
			s := p.stderr.String()
			if len(s) > tail {
				s = "..." + s[len(s)-tail:]
			}
			c.t.Logf("member %d, process %d (%q) stderr:\n%s", m.id, i+1, p.cmd.Args[1:], s)
		}
	}
}

func (c *procCluster) addrs() []string {
	var a []string
	for _, m := range c.members {
		a = append(a, m.addr)
	}
	return a
}

// health is a member's /healthz answer.
type health struct {
	Status   string `json:"status"`
	Member   uint64 `json:"member"`
	Leader   uint64 `json:"leader"`
	Applied  uint64 `json:"applied"`
	Sessions int    `json:"sessions"`
}

func (c *procCluster) health(m *clusterMember) (health, int, error) {
	resp, err := c.http.Get("http://" + m.addr + "/healthz")
	if err != nil {
		return health{}, 0, err
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return health{}, resp.StatusCode, err
	}
	if h.Member != m.id {
		c.t.Errorf("member %d's /healthz says member %d", m.id, h.Member)
	}
	return h, resp.StatusCode, nil
}

// waitLeader polls /healthz on live until each answers 200 and they all
// name the same leader, one of live, and returns it.
func (c *procCluster) waitLeader(live ...*clusterMember) *clusterMember {
	c.t.Helper()
	start := time.Now()
	var last []string
	for time.Since(start) < clusterWait {
		last = last[:0]
		var leader uint64
		agreed := true
		for _, m := range live {
			h, code, err := c.health(m)
			last = append(last, fmt.Sprintf("member %d: %d %+v %v", m.id, code, h, err))
			if err != nil || code != http.StatusOK || (leader != 0 && h.Leader != leader) {
				agreed = false
				continue
			}
			leader = h.Leader
		}
		if agreed {
			for _, m := range live {
				if m.id == leader {
					return m
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader among %d members after %v: %s", len(live), clusterWait, strings.Join(last, "; "))
	return nil
}

// others returns the members but m.
func (c *procCluster) others(m *clusterMember) []*clusterMember {
	var o []*clusterMember
	for _, x := range c.members {
		if x != m {
			o = append(o, x)
		}
	}
	return o
}

// connect opens a session on one of addrs, closed when the test ends.
func connect(t *testing.T, addrs []string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	c, err := client.Connect(ctx, addrs, append([]client.Option{client.WithSessionTimeout(sessionTimeout)}, opts...)...)
	if err != nil {
		t.Fatalf("connect to %v: %v", addrs, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// indeterminate reports whether err leaves a write's outcome unknown: it
// may or may not have been applied.
func indeterminate(err error) bool {
	return errors.Is(err, client.ErrOperationTimeout) || errors.Is(err, client.ErrConnectionLoss) ||
		errors.Is(err, context.DeadlineExceeded)
}

// retry runs op, with a fresh 5 s context each time, until it returns
// something other than an indeterminate error, for at most clusterWait
// and 50 attempts. op must be safe to repeat (a Set without a version).
func retry(t *testing.T, what string, op func(context.Context) error) {
	t.Helper()
	start := time.Now()
	var err error
	for attempt := 1; attempt <= 50 && time.Since(start) < clusterWait; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = op(ctx)
		cancel()
		if !indeterminate(err) {
			break
		}
		t.Logf("%s: attempt %d: %v; retrying", what, attempt, err)
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond))
}

// writeLog records what a set of writers saw: the names they were given
// (with when each call started and returned) and how many calls failed
// indeterminately.
type writeLog struct {
	mu             sync.Mutex
	acked          []string
	started, ended []time.Time
	failed         int
	other          []error
}

func (w *writeLog) record(name string, start time.Time, err error) {
	end := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.acked = append(w.acked, name)
		w.started = append(w.started, start)
		w.ended = append(w.ended, end)
	case indeterminate(err):
		w.failed++
	default:
		w.other = append(w.other, err)
	}
}

// ackedSince returns how many acknowledged writes started after t.
func (w *writeLog) ackedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, s := range w.started {
		if s.After(t) {
			n++
		}
	}
	return n
}

// pauseAround returns the longest pause between two acknowledgements that
// ends after t, and when it ended: how long the writers waited for the
// cluster to serve writes again. (Acknowledgements for writes committed
// before t may still arrive just after it.)
func (w *writeLog) pauseAround(t time.Time) (pause time.Duration, resumed time.Time) {
	w.mu.Lock()
	ended := slices.Clone(w.ended)
	w.mu.Unlock()
	slices.SortFunc(ended, time.Time.Compare)
	for i := 1; i < len(ended); i++ {
		if d := ended[i].Sub(ended[i-1]); ended[i].After(t) && d > pause {
			pause, resumed = d, ended[i]
		}
	}
	return pause, resumed
}

func (w *writeLog) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitFor polls cond every 20 ms for at most clusterWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > clusterWait {
			t.Fatalf("%s: not after %v", what, clusterWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

// TestClusterProcessKillLeader kills the leader with SIGKILL under a load
// of sequential creates, and checks that the cluster goes on under a new
// leader, loses no acknowledged write and applies none twice, and keeps
// a client's session, ephemeral node and watch.
func TestClusterProcessKillLeader(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	leader := c.waitLeader(c.members...)
	// The clients start on the leader, so that its death moves them.
	ordered := []string{leader.addr}
	for _, m := range c.others(leader) {
		ordered = append(ordered, m.addr)
	}
	ctx := context.Background()

	holder := connect(t, ordered, client.WithOrderedServers())
	sid := holder.SessionID()
	if id, _ := holder.Member(); id != leader.id {
		t.Logf("the holder is on member %d, not the leader %d", id, leader.id)
	}
	if _, err := holder.Create(ctx, "/eph", []byte("held"), client.WithMode(client.ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Create(ctx, "/watched", nil); err != nil {
		t.Fatal(err)
	}
	_, _, watch, err := holder.GetW(ctx, "/watched")
	if err != nil {
		t.Fatal(err)
	}

	writer := connect(t, ordered, client.WithOrderedServers())
	if _, err := writer.Create(ctx, "/seq", nil); err != nil {
		t.Fatal(err)
	}
	var writes writeLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const writers, maxWritesEach = 4, 5000
	loadEnd := time.Now().Add(3 * clusterWait)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range maxWritesEach {
				select {
				case <-stop:
					return
				default:
				}
				if time.Now().After(loadEnd) {
					return
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				name, err := writer.Create(ctx, "/seq/w-", nil, client.WithMode(client.ModePersistentSequential))
				cancel()
				writes.record(name, start, err)
			}
		}()
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriters()

	waitFor(t, "50 writes acknowledged", func() bool { return writes.count() >= 50 })
	killed := time.Now()
	leader.p.kill(t)
	t.Logf("killed the leader, member %d, with %d writes acknowledged", leader.id, writes.count())

	next := c.waitLeader(c.others(leader)...)
	t.Logf("member %d leads %v after the kill", next.id, time.Since(killed).Round(time.Millisecond))
	waitFor(t, "20 writes started after the kill acknowledged", func() bool {
		return writes.ackedSince(killed) >= 20
	})
	// The writes in flight at the kill are retried by the client,
	// transparently: the writers see a pause, not errors.
	pause, resumed := writes.pauseAround(killed)
	t.Logf("writes resumed %v after the kill, after a pause of %v without acknowledgements",
		resumed.Sub(killed).Round(time.Millisecond), pause.Round(time.Millisecond))

	// A change after the kill fires the watch set before it.
	retry(t, "set /watched", func(ctx context.Context) error {
		_, err := writer.Set(ctx, "/watched", []byte("after the kill"), -1)
		return err
	})
	select {
	case ev, ok := <-watch:
		if !ok {
			t.Fatal("the watch on /watched ended without an event")
		}
		if ev.Type != client.EventNodeDataChanged || ev.Path != "/watched" {
			t.Errorf("watch event %+v, want NodeDataChanged on /watched", ev)
		}
	case <-time.After(clusterWait):
		t.Fatal("the watch on /watched did not fire")
	}

	restarted := time.Now()
	c.restart(leader)
	c.waitLeader(c.members...)
	t.Logf("member %d restarted and following after %v", leader.id, time.Since(restarted).Round(time.Millisecond))
	before := writes.count()
	waitFor(t, "20 more writes acknowledged with the member back", func() bool { return writes.count() >= before+20 })
	stopWriters()

	writes.mu.Lock()
	acked, failed, other := writes.acked, writes.failed, writes.other
	writes.mu.Unlock()
	for _, err := range other {
		t.Errorf("a write failed with neither a timeout nor a connection loss: %v", err)
	}
	t.Logf("%d writes acknowledged, %d indeterminate", len(acked), failed)
	seen := make(map[string]bool)
	for _, name := range acked {
		if seen[name] {
			t.Errorf("%s acknowledged twice", name)
		}
		seen[name] = true
	}

	if got := holder.SessionID(); got != sid {
		t.Errorf("the holder's session is %#x, was %#x", got, sid)
	}
	if st, err := holder.Exists(ctx, "/eph"); err != nil || st.EphemeralOwner != sid {
		t.Errorf("the holder's ephemeral: %+v, %v; want owned by %#x", st, err, sid)
	}

	// Every member, read after a Sync, has every acknowledged node and no
	// more than were asked for.
	for _, m := range c.members {
		cl := connect(t, []string{m.addr})
		ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
		if err := cl.Sync(ctx, "/seq"); err != nil {
			t.Fatalf("member %d: sync: %v", m.id, err)
		}
		children, _, err := cl.Children(ctx, "/seq")
		if err != nil {
			t.Fatalf("member %d: children: %v", m.id, err)
		}
		have := make(map[string]bool, len(children))
		for _, ch := range children {
			have[ch] = true
		}
		missing := 0
		for _, name := range acked {
			if !have[path.Base(name)] {
				if missing++; missing <= 5 {
					t.Errorf("member %d: acknowledged %s is missing", m.id, name)
				}
			}
		}
		if missing > 0 {
			t.Errorf("member %d: %d of %d acknowledged nodes missing", m.id, missing, len(acked))
		}
		if len(children) > len(acked)+failed {
			t.Errorf("member %d: %d nodes under /seq, more than %d acknowledged + %d indeterminate calls", m.id, len(children), len(acked), failed)
		}
		if st, err := cl.Exists(ctx, "/eph"); err != nil || st.EphemeralOwner != sid {
			t.Errorf("member %d: /eph: %+v, %v; want owned by %#x", m.id, st, err, sid)
		}
		t.Logf("member %d: %d nodes under /seq", m.id, len(children))
		_ = cl.Close(ctx)
		cancel()
	}
}

// TestClusterProcessRollingRestart stops each member in turn with SIGTERM
// and starts it again: the cluster serves writes throughout, a client
// keeps its session, and the members end with the same applied index.
func TestClusterProcessRollingRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.waitLeader(c.members...)
	ctx := context.Background()
	cl := connect(t, c.addrs())
	sid := cl.SessionID()
	if _, err := cl.Create(ctx, "/eph", nil, client.WithMode(client.ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Create(ctx, "/rolling", nil); err != nil {
		t.Fatal(err)
	}
	set := func(data string) {
		t.Helper()
		retry(t, "set /rolling "+data, func(ctx context.Context) error {
			_, err := cl.Set(ctx, "/rolling", []byte(data), -1)
			return err
		})
	}
	for _, m := range c.members {
		leader := c.waitLeader(c.members...)
		start := time.Now()
		m.p.stop(t)
		t.Logf("member %d (the leader: %v) stopped after %v", m.id, m == leader, time.Since(start).Round(time.Millisecond))
		set(fmt.Sprintf("member %d stopped", m.id))
		c.restart(m)
		set(fmt.Sprintf("member %d back", m.id))
	}

	if got := cl.SessionID(); got != sid {
		t.Errorf("session %#x after the restarts, was %#x", got, sid)
	}
	if err := cl.Sync(ctx, "/eph"); err != nil {
		t.Fatal(err)
	}
	if st, err := cl.Exists(ctx, "/eph"); err != nil || st.EphemeralOwner != sid {
		t.Errorf("/eph after the restarts: %+v, %v; want owned by %#x", st, err, sid)
	}
	if data, _, err := cl.Get(ctx, "/rolling"); err != nil || string(data) != "member 3 back" {
		t.Errorf("get /rolling = %q, %v; want the last write", data, err)
	}
	var applied []uint64
	waitFor(t, "the members agree on the applied index", func() bool {
		applied = applied[:0]
		for _, m := range c.members {
			h, code, err := c.health(m)
			if err != nil || code != http.StatusOK {
				return false
			}
			applied = append(applied, h.Applied)
		}
		return applied[0] == applied[1] && applied[1] == applied[2]
	})
	t.Logf("applied index %d on every member", applied[0])
}

// TestClusterProcessBadCluster checks that a member refuses a --cluster
// that disagrees with the one it was started with, changing nothing, and
// that --cluster needs --id.
func TestClusterProcessBadCluster(t *testing.T) {
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	peers := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	spec := fmt.Sprintf("1=%s,2=%s,3=%s", peers[0], peers[1], peers[2])
	// Member 1 alone: it has no leader, but it starts, stores its
	// membership and stops cleanly.
	srv := startServer(t, addr, cleanEnv(t), "--id", "1", "--cluster", spec, "--listen", addr, "--data-dir", dir, "--log-level", "warn")
	srv.stop(t)

	other := fmt.Sprintf("1=%s,2=%s,3=%s", peers[0], peers[1], freeAddr(t))
	for _, args := range [][]string{
		{"--cluster", other, "--id", "1"},
		{"--cluster", fmt.Sprintf("1=%s,2=%s", peers[0], peers[1]), "--id", "1"},
	} {
		args = append([]string{"server", "--listen", addr, "--data-dir", dir, "--log-level", "warn"}, args...)
		r := runEnv(t, cleanEnv(t), "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "disagrees") || !strings.Contains(r.stderr, spec) {
			t.Errorf("arbor %q: %v; want a non-zero exit and a message that the cluster disagrees with %s", args, r, spec)
		}
	}

	fresh := []string{"server", "--listen", freeAddr(t), "--data-dir", t.TempDir(), "--cluster", spec}
	if r := runEnv(t, cleanEnv(t), "", fresh...); r.code != 2 || !strings.Contains(r.stderr, "member id") {
		t.Errorf("arbor %q: %v; want exit 2, a usage error about the member id", fresh, r)
	}

	// The refusals changed nothing: the member starts with its stored
	// membership.
	srv = startServer(t, addr, cleanEnv(t), "--listen", addr, "--data-dir", dir, "--log-level", "warn")
	c := &procCluster{t: t, http: &http.Client{Timeout: 2 * time.Second}}
	if h, _, err := c.health(&clusterMember{id: 1, addr: addr}); err != nil || h.Member != 1 {
		t.Errorf("/healthz after the refusals: %+v, %v", h, err)
	}
	srv.stop(t)
}

// TestClusterProcessNoQuorum kills two of three members: a write then
// fails within its context instead of hanging, and succeeds once a second
// member is back.
func TestClusterProcessNoQuorum(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	leader := c.waitLeader(c.members...)
	followers := c.others(leader)
	survivor, victim := followers[0], followers[1]
	ctx := context.Background()
	cl := connect(t, []string{survivor.addr, victim.addr, leader.addr}, client.WithOrderedServers(),
		client.WithSessionTimeout(20*time.Second))
	sid := cl.SessionID()
	if _, err := cl.Create(ctx, "/before", nil); err != nil {
		t.Fatal(err)
	}

	leader.p.kill(t)
	victim.p.kill(t)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := cl.Create(ctx, "/lost", nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !indeterminate(err) {
			t.Errorf("a write with one member of three alive: %v; want an operation timeout or connection loss", err)
		}
		t.Logf("the write without a quorum failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(clusterWait):
		t.Fatalf("a write with one member of three alive and a 5s context still waits after %v", clusterWait)
	}

	c.restart(victim)
	c.waitLeader(survivor, victim)
	t.Logf("a leader again %v after the kills", time.Since(start).Round(time.Millisecond))
	retry(t, "set /before with a quorum back", func(ctx context.Context) error {
		_, err := cl.Set(ctx, "/before", []byte("quorum"), -1)
		return err
	})
	if got := cl.SessionID(); got != sid {
		t.Errorf("session %#x, was %#x", got, sid)
	}
	if _, err := cl.Exists(ctx, "/lost"); err != nil && !errors.Is(err, client.ErrNoNode) {
		t.Error(err)
	} else {
		t.Logf("the write without a quorum applied after all: %v", err == nil)
	}
}

// TestClusterProcessReplaceWipedMember: a follower loses its data (kill -9,
// data dir wiped); the operator removes its id, adds a new member in its
// place (arbor member add, arbor server --join), which catches up and is
// promoted; the client's session lives through it, and every member ends
// with the same state digest (arbor status).
func TestClusterProcessReplaceWipedMember(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	lead := c.waitLeader(c.members...)
	cl := connect(t, c.addrs(), client.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	id := cl.SessionID()
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterWait)
	defer cancel()
	if _, err := cl.Create(ctx, "/mine", nil, client.WithMode(client.ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := cl.Create(ctx, fmt.Sprintf("/before%02d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var lost *clusterMember
	for _, m := range c.members {
		if m != lead {
			lost = m
			break
		}
	}
	lost.p.kill(t)
	if err := os.RemoveAll(lost.dir); err != nil {
		t.Fatal(err)
	}

	servers := strings.Join(c.addrs(), ",")
	member := func(args ...string) string {
		t.Helper()
		r := runEnv(t, cleanEnv(t), "", append([]string{"--servers", servers, "--timeout", "10s", "member"}, args...)...)
		if r.code != 0 {
			t.Fatalf("arbor member %q: %v", args, r)
		}
		return r.stdout
	}
	member("remove", strconv.FormatUint(lost.id, 10))
	repl := &clusterMember{id: 4, addr: freeAddr(t), peer: freeAddr(t), dir: t.TempDir()}
	member("add", "4", repl.peer)
	c.members = append(c.others(lost), repl)
	c.run(repl, "--id", "4", "--join", "--cluster", c.spec+",4="+repl.peer)
	retry(t, "50 writes while the new member joins", func(ctx context.Context) error {
		for i := range 50 {
			_, err := cl.Create(ctx, fmt.Sprintf("/after%02d", i), []byte("y"))
			if err != nil && !errors.Is(err, client.ErrNodeExists) {
				return err
			}
		}
		return nil
	})
	// Promote once it has caught up (the leader refuses while it lags).
	waitFor(t, "the new member to be promoted", func() bool {
		r := runEnv(t, cleanEnv(t), "", "--servers", servers, "member", "promote", "4")
		return r.code == 0
	})
	// The list comes from the first member that answers, perhaps a
	// follower that has not applied the promotion yet.
	waitFor(t, "member list to show 3 voters and no learner", func() bool {
		out := member("list")
		return !strings.Contains(out, "learner") && strings.Count(out, "voter") == 3
	})
	c.waitLeader(c.members...)

	// The new member serves the data, the session's ephemeral included.
	on4 := connect(t, []string{repl.addr})
	if err := on4.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/before49", "/after49"} {
		if _, _, err := on4.Get(ctx, p); err != nil {
			t.Fatalf("get %s on the new member: %v", p, err)
		}
	}
	if st, err := on4.Exists(ctx, "/mine"); err != nil || st.EphemeralOwner != id || cl.SessionID() != id {
		t.Fatalf("session %#x (now %#x): ephemeral %+v %v", id, cl.SessionID(), st, err)
	}
	// Every member at the same index with the same digest.
	var addrs []string
	for _, m := range c.members {
		addrs = append(addrs, m.addr)
	}
	waitFor(t, "equal digests on every member", func() bool {
		r := runEnv(t, cleanEnv(t), "", "--servers", strings.Join(addrs, ","), "--output", "json", "status")
		var rows []struct {
			Digest string `json:"digest"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 3 {
			return false
		}
		return rows[0].Digest != "" && rows[0].Digest == rows[1].Digest && rows[1].Digest == rows[2].Digest
	})
}
