package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arbor-coord/arbor/conformance/internal/proxy"
	"github.com/arbor-coord/arbor/internal/freeport"
)

// Options configures a cluster. Zero values take the defaults.
type Options struct {
	// Binary is the arbor binary to run (required).
	Binary string
	// Dir holds the members' data directories and logs (required).
	Dir string
	// Members is the number of members, 1 to 9. Default 3.
	Members int
	// MinSessionTimeout is each member's --min-session-timeout (0: the
	// member's default).
	MinSessionTimeout time.Duration
	// SnapshotEntries is each member's --snapshot-entries (0: the
	// member's default). A small value makes faults meet snapshots and
	// log compaction.
	SnapshotEntries uint64
	// LogLevel is each member's --log-level. Default "info".
	LogLevel string
	// Logger receives the harness's own log lines (faults made, processes
	// started and ended); nil discards them.
	Logger *slog.Logger
}

// Cluster is a running cluster of arbor server processes.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	spec    string // the --cluster value, with the peer proxies' addresses
	members []*Member
	http    *http.Client

	ports freeport.Picker

	mu     sync.Mutex // guards the fields below and each member's process
	cut    map[[2]uint64]bool
	delay  time.Duration
	closed bool
}

// Member is one member of a Cluster.
type Member struct {
	// ID is the member's id.
	ID uint64
	// Dir is the member's data directory.
	Dir string
	// LogPath is the file the member's processes write their logs to.
	LogPath string

	listen, peerListen string // the addresses the process binds
	clients, peers     *proxy.Proxy

	proc *process // the running process, nil when down
}

// process is one run of a member's arbor server.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when it exited
	err    error         // its exit status, after done
	paused bool
}

// Start starts a cluster and returns once every member's process runs (not
// once they have elected a leader: see WaitLeader). On an error, it stops
// what it started.
func Start(opts Options) (*Cluster, error) {
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("cluster: Options.Binary and Options.Dir are required")
	}
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.Members < 1 || opts.Members > 9 {
		return nil, fmt.Errorf("cluster: %d members: want 1 to 9", opts.Members)
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{
		opts: opts,
		log:  opts.Logger,
		http: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		cut:  make(map[[2]uint64]bool),
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var spec []string
	for i := 1; i <= opts.Members; i++ {
		m, err := c.newMember(uint64(i))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.members = append(c.members, m)
		spec = append(spec, fmt.Sprintf("%d=%s", m.ID, m.peers.Addr()))
	}
	c.spec = strings.Join(spec, ",")
	for _, m := range c.members {
		if err := c.Start(m.ID); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// newMember reserves a member's addresses and starts its proxies.
func (c *Cluster) newMember(id uint64) (*Member, error) {
	m := &Member{
		ID:      id,
		Dir:     filepath.Join(c.opts.Dir, fmt.Sprintf("member-%d", id)),
		LogPath: filepath.Join(c.opts.Dir, fmt.Sprintf("member-%d.log", id)),
	}
	var err error
	// Below the ephemeral range: a member restarted after a kill binds
	// them again, and a port of that range may meanwhile have become some
	// connection's local port.
	if m.listen, err = c.ports.Addr(); err != nil {
		return nil, fmt.Errorf("cluster: member %d's client address: %w", id, err)
	}
	if m.peerListen, err = c.ports.Addr(); err != nil {
		return nil, fmt.Errorf("cluster: member %d's peer address: %w", id, err)
	}
	logger := c.log.With("member", id)
	if m.clients, err = proxy.New(proxy.Config{Target: m.listen, Logger: logger.With("proxy", "clients")}); err != nil {
		return nil, fmt.Errorf("cluster: member %d's client proxy: %w", id, err)
	}
	m.peers, err = proxy.New(proxy.Config{
		Target:    m.peerListen,
		PeekBytes: proxy.PeerHandshakeBytes,
		Identify:  proxy.PeerSource,
		Logger:    logger.With("proxy", "peers"),
	})
	if err != nil {
		m.clients.Close()
		return nil, fmt.Errorf("cluster: member %d's peer proxy: %w", id, err)
	}
	return m, nil
}

// Members returns the members' ids, in order.
func (c *Cluster) Members() []uint64 {
	ids := make([]uint64, len(c.members))
	for i, m := range c.members {
		ids[i] = m.ID
	}
	return ids
}

// Member returns the member with the given id, or nil.
func (c *Cluster) Member(id uint64) *Member {
	for _, m := range c.members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// ClientAddrs returns the addresses clients dial: each member's client
// proxy, in member order.
func (c *Cluster) ClientAddrs() []string {
	addrs := make([]string, len(c.members))
	for i, m := range c.members {
		addrs[i] = m.clients.Addr()
	}
	return addrs
}

// ClientAddr returns the address clients dial to reach member id.
func (c *Cluster) ClientAddr(id uint64) string { return c.mustMember(id).clients.Addr() }

func (c *Cluster) mustMember(id uint64) *Member {
	m := c.Member(id)
	if m == nil {
		panic(fmt.Sprintf("cluster: no member %d", id))
	}
	return m
}

// Start starts member id's process if it is down.
func (c *Cluster) Start(id uint64) error {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("cluster: closed")
	}
	if m.proc != nil {
		return nil
	}
	logFile, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: member %d's log: %w", id, err)
	}
	args := []string{"server",
		"--id", strconv.FormatUint(id, 10),
		"--cluster", c.spec,
		"--data-dir", m.Dir,
		"--listen", m.listen,
		"--listen-peer", m.peerListen,
		"--log-level", c.opts.LogLevel,
	}
	if c.opts.MinSessionTimeout > 0 {
		args = append(args, "--min-session-timeout", c.opts.MinSessionTimeout.String())
	}
	if c.opts.SnapshotEntries > 0 {
		args = append(args, "--snapshot-entries", strconv.FormatUint(c.opts.SnapshotEntries, 10))
	}
	cmd := exec.Command(c.opts.Binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The members' settings come from their flags alone.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	fmt.Fprintf(logFile, "--- cluster: starting %s %s\n", c.opts.Binary, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cluster: starting member %d: %w", id, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	m.proc = p
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(logFile, "--- cluster: process %d exited: %v\n", cmd.Process.Pid, p.err)
		logFile.Close()
		close(p.done)
	}()
	c.log.Info("started", "member", id, "pid", cmd.Process.Pid)
	return nil
}

// Running reports whether member id's process runs (paused or not).
func (c *Cluster) Running(id uint64) bool {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.proc == nil {
		return false
	}
	select {
	case <-m.proc.done:
		return false
	default:
		return true
	}
}

// Exited returns the members whose processes ended without the cluster
// ending them (crashed or stopped themselves), with their exit errors.
func (c *Cluster) Exited() map[uint64]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint64]error)
	for _, m := range c.members {
		if m.proc == nil {
			continue
		}
		select {
		case <-m.proc.done:
			out[m.ID] = m.proc.err
		default:
		}
	}
	return out
}

// Kill ends member id's process with SIGKILL (a crash: nothing is
// flushed) and waits until it is gone.
func (c *Cluster) Kill(id uint64) error {
	return c.end(id, syscall.SIGKILL, 10*time.Second)
}

// Stop ends member id's process with SIGTERM (a clean shutdown: a leader
// hands off leadership first) and waits until it is gone, killing it if it
// takes longer than 20 s.
func (c *Cluster) Stop(id uint64) error {
	err := c.end(id, syscall.SIGTERM, 20*time.Second)
	if errors.Is(err, errSlowExit) {
		c.log.Warn("did not stop on SIGTERM; killing it", "member", id)
		return errors.Join(err, c.Kill(id))
	}
	return err
}

var errSlowExit = errors.New("process did not exit in time")

func (c *Cluster) end(id uint64, sig syscall.Signal, bound time.Duration) error {
	m := c.mustMember(id)
	c.mu.Lock()
	p := m.proc
	if p == nil {
		c.mu.Unlock()
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	if p.paused {
		// A stopped process does not act on SIGTERM until continued.
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		p.paused = false
	}
	c.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(bound):
		return fmt.Errorf("cluster: member %d (pid %d) after %v: %w", id, p.cmd.Process.Pid, sig, errSlowExit)
	}
	c.mu.Lock()
	if m.proc == p {
		m.proc = nil
	}
	c.mu.Unlock()
	c.log.Info("ended", "member", id, "signal", sig.String(), "status", p.err)
	return nil
}

// Restart kills member id (if it runs) and starts it again.
func (c *Cluster) Restart(id uint64) error {
	if err := c.Kill(id); err != nil {
		return err
	}
	return c.Start(id)
}

// Pause stops member id's process with SIGSTOP: it neither runs nor
// answers, but its connections stay open, like a process stuck in a long
// GC pause or a VM frozen by its host.
func (c *Cluster) Pause(id uint64) error { return c.pause(id, true) }

// Resume continues a paused member with SIGCONT.
func (c *Cluster) Resume(id uint64) error { return c.pause(id, false) }

func (c *Cluster) pause(id uint64, stop bool) error {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.proc == nil || m.proc.paused == stop {
		return nil
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := m.proc.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("cluster: member %d: %v: %w", id, sig, err)
	}
	m.proc.paused = stop
	c.log.Info("signalled", "member", id, "signal", sig.String())
	return nil
}

// Partition cuts every link between members of different groups, in both
// directions, after healing the network. A member in no group is cut off
// from all.
func (c *Cluster) Partition(groups ...[]uint64) {
	group := make(map[uint64]int)
	for i, g := range groups {
		for _, id := range g {
			group[id] = i + 1
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healLocked()
	for _, a := range c.members {
		for _, b := range c.members {
			if a != b && (group[a.ID] == 0 || group[a.ID] != group[b.ID]) {
				c.cutLocked(a.ID, b.ID)
			}
		}
	}
	c.log.Info("partitioned", "groups", fmt.Sprint(groups))
}

// Isolate cuts member id off from every other member.
func (c *Cluster) Isolate(id uint64) {
	var rest []uint64
	for _, m := range c.members {
		if m.ID != id {
			rest = append(rest, m.ID)
		}
	}
	c.Partition([]uint64{id}, rest)
}

// Cut cuts the link from member a to member b, in that direction only:
// streams a dials to b go silent (a partition drops packets; it does not
// reset connections).
func (c *Cluster) Cut(a, b uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutLocked(a, b)
}

func (c *Cluster) cutLocked(a, b uint64) {
	c.cut[[2]uint64{a, b}] = true
	c.mustMember(b).peers.Block(a)
}

// Heal restores every link, and their speed.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healLocked()
	c.log.Info("healed")
}

func (c *Cluster) healLocked() {
	for link := range c.cut {
		c.mustMember(link[1]).peers.Unblock(link[0])
	}
	clear(c.cut)
	c.slowLocked(0)
}

// Slow delays every byte on every link between members by d, each way (0
// restores their speed).
func (c *Cluster) Slow(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slowLocked(d)
	c.log.Info("slowed links", "delay", d)
}

func (c *Cluster) slowLocked(d time.Duration) {
	if c.delay == d {
		return
	}
	c.delay = d
	for _, to := range c.members {
		for _, from := range c.members {
			if from != to {
				to.peers.Delay(from.ID, d)
			}
		}
	}
}

// CutClients closes every client connection to every member (clients
// reconnect, resuming their sessions), and returns how many it closed.
func (c *Cluster) CutClients() int {
	n := 0
	for _, m := range c.members {
		n += m.clients.CutAll()
	}
	return n
}

// Status is what a member reports of itself at /v1/status.
type Status struct {
	ID      uint64   `json:"id"`
	Role    string   `json:"role"`
	Term    uint64   `json:"term"`
	Leader  uint64   `json:"leader"`
	Commit  uint64   `json:"commit"`
	Applied uint64   `json:"applied"`
	Voters  []uint64 `json:"voters"`
	// Digest is "HASH@INDEX", when asked for.
	Digest string `json:"digest"`
}

// Status asks member id for its status (directly, not through its
// proxy), with its state digest if digest is set.
func (c *Cluster) Status(ctx context.Context, id uint64, digest bool) (Status, error) {
	m := c.mustMember(id)
	url := fmt.Sprintf("http://%s/v1/status?digest=%t", m.listen, digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("cluster: member %d's status: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Status{}, fmt.Errorf("cluster: member %d's status: %s: %s", id, resp.Status, strings.TrimSpace(string(body)))
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("cluster: member %d's status: %w", id, err)
	}
	return st, nil
}

// running returns the ids of the members whose processes run and are not
// paused (a process that exited on its own does not run: see Exited).
func (c *Cluster) running() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint64
	for _, m := range c.members {
		if m.proc == nil || m.proc.paused {
			continue
		}
		select {
		case <-m.proc.done:
		default:
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// WaitLeader waits until every running, unpaused member names the same
// leader, one of them, in the same term, and returns it.
func (c *Cluster) WaitLeader(ctx context.Context) (uint64, error) {
	var last string
	for {
		ids := c.running()
		var leader, term uint64
		agreed := len(ids) > 0
		for _, id := range ids {
			st, err := c.Status(ctx, id, false)
			if err != nil {
				last, agreed = err.Error(), false
				break
			}
			if leader == 0 {
				leader, term = st.Leader, st.Term
			}
			if st.Leader == 0 || st.Leader != leader || st.Term != term || !slices.Contains(ids, st.Leader) {
				last, agreed = fmt.Sprintf("member %d: leader %d in term %d", id, st.Leader, st.Term), false
				break
			}
		}
		if agreed {
			return leader, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, fmt.Errorf("cluster: waiting for a leader (%s): %w", last, err)
		}
	}
}

// Converge waits until every member runs unpaused and has applied the same
// index, then compares their state digests. It returns an error naming
// the members whose digests differ at the same index, or the context's
// error (with the last state seen) if they never reach one index.
func (c *Cluster) Converge(ctx context.Context) (map[uint64]string, error) {
	var last string
	for {
		digests := make(map[uint64]string)
		ok := len(c.running()) == len(c.members)
		if !ok {
			last = "not every member runs"
			if exited := c.Exited(); len(exited) > 0 {
				return nil, fmt.Errorf("cluster: members exited on their own: %v", exited)
			}
		}
		index := ""
		for _, m := range c.members {
			if !ok {
				break
			}
			st, err := c.Status(ctx, m.ID, true)
			if err != nil {
				last, ok = err.Error(), false
				break
			}
			hash, at, _ := strings.Cut(st.Digest, "@")
			if index == "" {
				index = at
			}
			if at != index {
				last, ok = fmt.Sprintf("member %d's digest is at %s, another's at %s", m.ID, at, index), false
				break
			}
			digests[m.ID] = hash
		}
		if ok {
			first := digests[c.members[0].ID]
			for _, d := range digests {
				if d != first {
					return digests, fmt.Errorf("cluster: state digests differ at index %s: %v", index, digests)
				}
			}
			return digests, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, fmt.Errorf("cluster: waiting for the members to converge (%s): %w", last, err)
		}
	}
}

// LogTail returns the last n bytes of member id's log.
func (c *Cluster) LogTail(id uint64, n int) string {
	b, err := os.ReadFile(c.mustMember(id).LogPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}

// Crash returns, from member id's log, the first Go panic or fatal runtime
// error and up to n bytes after it (the goroutine traces), or "" if the log
// holds none. A failed test prints it before the logs' tails, which a long
// run would otherwise push the crash out of.
func (c *Cluster) Crash(id uint64, n int) string {
	b, err := os.ReadFile(c.mustMember(id).LogPath)
	if err != nil {
		return ""
	}
	at := -1
	for _, marker := range []string{"\npanic: ", "\nfatal error: "} {
		if i := bytes.Index(b, []byte(marker)); i >= 0 && (at < 0 || i < at) {
			at = i + 1
		}
	}
	if at < 0 {
		return ""
	}
	b = b[at:]
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Close kills every member's process and closes the proxies.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, m := range c.members {
		errs = append(errs, c.Kill(m.ID))
		if m.clients != nil {
			errs = append(errs, m.clients.Close())
		}
		if m.peers != nil {
			errs = append(errs, m.peers.Close())
		}
	}
	return errors.Join(errs...)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
