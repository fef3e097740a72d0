package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

// ZooKeeper session settings.
const (
	zkSessionTimeout = 10 * time.Second
	// zkConnectTimeout bounds the wait for a session to be granted.
	zkConnectTimeout = 15 * time.Second
	// zkBatchOps is how many operations one multi of the setup or the
	// cleanup holds: about 40 KiB of deletes, far below jute.maxbuffer.
	zkBatchOps = 1000
	// zkBatchBytes bounds the data one multi of the setup carries: a
	// request over the server's jute.maxbuffer (1 MiB by default) makes
	// it drop the connection.
	zkBatchBytes = 256 << 10
	// zkMaxDepth bounds the walk of the cleanup; the workloads make
	// nodes two levels below the root.
	zkMaxDepth = 8
	// zkUnlockTimeout bounds a release after the run was cancelled.
	zkUnlockTimeout = 10 * time.Second
)

// zkACL is the ACL of every node the benchmark makes.
func zkACL() []zk.ACL { return zk.WorldACL(zk.PermAll) }

// zooKeeper drives ZooKeeper through go-zookeeper, which has no context
// on its calls: a call that is already sent waits for its answer (bounded
// by the session timeout) even after the run's context ended.
type zooKeeper struct {
	cfg   config
	value []byte
	paths []string // the data nodes of set, get and mixed
	rngs  []*rand.Rand

	admin   *zk.Conn   // setup and cleanup
	clients []*zk.Conn // the load clients (the writer alone for watch)
	locks   []*zk.Lock // lock: one per client

	watchers []*zk.Conn // watch: one session per watcher
	tracker  *loadgen.WatchTracker
}

// newZooKeeper returns a driver of ZooKeeper for cfg; setup connects it.
func newZooKeeper(cfg config) *zooKeeper {
	return &zooKeeper{cfg: cfg, value: fillValue(cfg.valueBytes), rngs: newRands(loadClients(cfg))}
}

// zkQuietLogger drops go-zookeeper's log lines (it logs every connect and
// disconnect, which would bury the progress lines).
type zkQuietLogger struct{}

func (zkQuietLogger) Printf(string, ...any) {}

// zkConnect opens a session with server and waits until it is granted.
func zkConnect(ctx context.Context, server string) (*zk.Conn, error) {
	conn, events, err := zk.Connect([]string{server}, zkSessionTimeout, zk.WithLogger(zkQuietLogger{}))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	ctx, cancel := context.WithTimeout(ctx, zkConnectTimeout)
	defer cancel()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil, fmt.Errorf("connect to %s: the connection closed", server)
			}
			switch ev.State {
			case zk.StateHasSession:
				// The client blocks if nobody reads its session
				// events; nothing here needs them after this.
				go func() {
					for range events {
					}
				}()
				return conn, nil
			case zk.StateAuthFailed, zk.StateExpired:
				conn.Close()
				return nil, fmt.Errorf("connect to %s: %v", server, ev.State)
			}
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("connect to %s: no session granted: %w", server, ctx.Err())
		}
	}
}

// server is the address session i uses: sessions go round-robin over
// the servers.
func (z *zooKeeper) server(i int) string { return z.cfg.servers[i%len(z.cfg.servers)] }

func (z *zooKeeper) setup(ctx context.Context) error {
	var err error
	if z.admin, err = zkConnect(ctx, z.server(0)); err != nil {
		return err
	}
	if err := zkEnsure(z.admin, z.cfg.root, nil); err != nil {
		return err
	}
	switch z.cfg.workload {
	case "create":
		err = zkEnsure(z.admin, z.cfg.root+"/create", nil)
	case "set", "get", "mixed":
		err = z.setupData()
	case "lock":
		err = zkEnsure(z.admin, z.cfg.root+"/lock", nil)
	}
	if err != nil {
		return err
	}

	z.clients = make([]*zk.Conn, loadClients(z.cfg))
	if err := loadgen.ForEach(ctx, len(z.clients), setupParallelism, func(ctx context.Context, i int) error {
		conn, err := zkConnect(ctx, z.server(i))
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		z.clients[i] = conn
		return nil
	}); err != nil {
		return err
	}
	if z.cfg.workload == "lock" {
		z.locks = make([]*zk.Lock, len(z.clients))
		for i, conn := range z.clients {
			z.locks[i] = zk.NewLock(conn, z.cfg.root+"/lock", zkACL())
		}
	}
	if z.cfg.workload == "watch" {
		return z.setupWatchers(ctx)
	}
	return nil
}

// zkEnsure creates path with data, or sets its data if it exists.
func zkEnsure(conn *zk.Conn, path string, data []byte) error {
	_, err := conn.Create(path, data, 0, zkACL())
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = conn.Set(path, data, -1)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// setupData makes the 1,000 data nodes, a multi per batch; a batch with
// nodes that exist already (left by a run with -keep) goes node by node.
func (z *zooKeeper) setupData() error {
	parent := z.cfg.root + "/data"
	if err := zkEnsure(z.admin, parent, nil); err != nil {
		return err
	}
	z.paths = make([]string, dataNodes)
	for i := range z.paths {
		z.paths[i] = parent + "/" + strconv.Itoa(i)
	}
	// Each create carries the value and about a hundred bytes more.
	batchOps := max(1, min(zkBatchOps, zkBatchBytes/(len(z.value)+100)))
	for batch := range slices.Chunk(z.paths, batchOps) {
		ops := make([]any, len(batch))
		for i, p := range batch {
			ops[i] = &zk.CreateRequest{Path: p, Data: z.value, Acl: zkACL()}
		}
		_, err := z.admin.Multi(ops...)
		if err == nil {
			continue
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s...: %w", batch[0], err)
		}
		for _, p := range batch {
			if err := zkEnsure(z.admin, p, z.value); err != nil {
				return err
			}
		}
	}
	return nil
}

// setupWatchers makes the watched node, connects the watchers and arms
// their watches.
func (z *zooKeeper) setupWatchers(ctx context.Context) error {
	path := z.cfg.root + "/watch"
	if err := zkEnsure(z.admin, path, z.value); err != nil {
		return err
	}
	_, stat, err := z.admin.Get(path)
	if err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	z.tracker = loadgen.NewWatchTracker(z.cfg.watchers, int64(stat.Version))
	z.watchers = make([]*zk.Conn, z.cfg.watchers)
	return loadgen.ForEach(ctx, z.cfg.watchers, setupParallelism, func(ctx context.Context, i int) error {
		// The writer is session 0; the watchers come after it.
		conn, err := zkConnect(ctx, z.server(1+i))
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		z.watchers[i] = conn
		_, stat, events, err := conn.GetW(path)
		if err != nil {
			return fmt.Errorf("watcher %d: get %s: %w", i, path, err)
		}
		go z.watch(i, conn, path, int64(stat.Version), events)
		return nil
	})
}

// watch is watcher i's loop: wait for the one-shot watch's event, re-read
// with GetW (which arms the next watch), report the version to the
// tracker, repeat. It ends when the session closes.
//
// A change that lands between an event and the re-arm fires no event of
// its own, but the re-read returns it: the version says how many changes
// happened since the last read. The event's arrival is the moment the
// watcher learnt of the change when it was the only one; otherwise the
// re-read's return is.
func (z *zooKeeper) watch(i int, conn *zk.Conn, path string, version int64, events <-chan zk.Event) {
	// Bounded by the session: closing it ends the watch with an error.
	for {
		ev, ok := <-events
		if !ok {
			return
		}
		eventAt := time.Now()
		if ev.Err != nil || ev.Type == zk.EventNotWatching {
			if !errors.Is(ev.Err, zk.ErrClosing) {
				z.tracker.Fail(i, fmt.Errorf("watch %s: %v: %w", path, ev.Type, ev.Err))
			}
			return
		}
		_, stat, next, err := conn.GetW(path)
		if err != nil {
			if !errors.Is(err, zk.ErrClosing) && !errors.Is(err, zk.ErrConnectionClosed) {
				z.tracker.Fail(i, fmt.Errorf("re-arm %s: %w", path, err))
			}
			return
		}
		seen := int64(stat.Version)
		z.tracker.Saw(i, seen, zkSeenAt(version, seen, eventAt, time.Now()))
		version, events = seen, next
	}
}

// zkSeenAt is when a watcher learnt of version read, having read version
// last before an event at eventAt and a re-read that returned at readAt.
// One change since the last read is the one the event announced; more
// mean that the newest landed after the event (and fired none, the watch
// being spent), so only the re-read told of it.
func zkSeenAt(last, read int64, eventAt, readAt time.Time) time.Time {
	if read == last+1 {
		return eventAt
	}
	return readAt
}

func (z *zooKeeper) op(ctx context.Context, c int) (time.Duration, error) {
	conn := z.clients[c]
	rng := z.rngs[c]
	start := time.Now()
	switch z.cfg.workload {
	case "create":
		if _, err := conn.Create(z.cfg.root+"/create/n-", z.value, zk.FlagSequence, zkACL()); err != nil {
			return 0, fmt.Errorf("create: %w", err)
		}
	case "set":
		if err := z.set(conn, rng); err != nil {
			return 0, err
		}
	case "get":
		if err := z.get(conn, rng); err != nil {
			return 0, err
		}
	case "mixed":
		var err error
		if rng.Float64() < 0.9 {
			err = z.get(conn, rng)
		} else {
			err = z.set(conn, rng)
		}
		if err != nil {
			return 0, err
		}
	case "watch":
		return z.write(ctx, conn)
	case "lock":
		if err := z.lockOnce(ctx, c); err != nil {
			return 0, err
		}
	default:
		panic(fmt.Sprintf("cmpbench: unchecked workload %q", z.cfg.workload))
	}
	return time.Since(start), nil
}

func (z *zooKeeper) get(conn *zk.Conn, rng *rand.Rand) error {
	path := z.paths[rng.IntN(len(z.paths))]
	if _, _, err := conn.Get(path); err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	return nil
}

func (z *zooKeeper) set(conn *zk.Conn, rng *rand.Rand) error {
	path := z.paths[rng.IntN(len(z.paths))]
	if _, err := conn.Set(path, z.value, -1); err != nil {
		return fmt.Errorf("set %s: %w", path, err)
	}
	return nil
}

// write is one op of the watch workload: set the watched node, then wait
// until every watcher has seen the new version.
func (z *zooKeeper) write(ctx context.Context, conn *zk.Conn) (time.Duration, error) {
	path := z.cfg.root + "/watch"
	stat, err := conn.Set(path, z.value, -1)
	if err != nil {
		return 0, fmt.Errorf("set %s: %w", path, err)
	}
	acked := time.Now()
	last, err := z.tracker.Wait(ctx, int64(stat.Version))
	if err != nil {
		return 0, fmt.Errorf("wait for the watchers of version %d: %w", stat.Version, err)
	}
	return loadgen.WatchLatency(acked, last), nil
}

// lockOnce acquires and releases client c's lock. zk.Lock blocks until
// the lock is held, whatever the context; the other contenders each hold
// it only for a release, so it comes.
func (z *zooKeeper) lockOnce(ctx context.Context, c int) error {
	l := z.locks[c]
	if err := l.Lock(); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := l.Unlock(); err != nil {
		// The lock node stays until the session ends; a fresh Lock
		// lets this client try again rather than fail with
		// ErrDeadlock from now on.
		z.locks[c] = zk.NewLock(z.clients[c], z.cfg.root+"/lock", zkACL())
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

func (z *zooKeeper) closeClients() {
	conns := append(z.clients[:len(z.clients):len(z.clients)], z.watchers...)
	closeAll(len(conns), func(i int) {
		if conns[i] != nil {
			conns[i].Close()
		}
	})
	z.clients, z.watchers = nil, nil
}

// cleanup deletes the root and everything under it.
func (z *zooKeeper) cleanup(ctx context.Context) error {
	if z.admin == nil {
		return nil
	}
	return zkDeleteTree(ctx, z.admin, z.cfg.root, 0)
}

// zkDeleteTree deletes path and everything under it. It lists each inner
// node once and deletes its children a multi per batch, taking them for
// leaves (most are: a run of create makes a million of them under one
// parent). A batch that fails goes node by node: a child that is not
// empty after all is deleted the same way, one that is already gone is
// skipped.
func zkDeleteTree(ctx context.Context, conn *zk.Conn, path string, depth int) error {
	if depth > zkMaxDepth {
		return fmt.Errorf("delete %s: more than %d levels of nodes, or children still being created", path, zkMaxDepth)
	}
	children, _, err := conn.Children(path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", path, err)
	}
	for batch := range slices.Chunk(children, zkBatchOps) {
		if err := ctx.Err(); err != nil {
			return err
		}
		ops := make([]any, len(batch))
		for i, child := range batch {
			ops[i] = &zk.DeleteRequest{Path: path + "/" + child, Version: -1}
		}
		if _, err := conn.Multi(ops...); err == nil {
			continue
		}
		for _, child := range batch {
			if err := zkDelete(ctx, conn, path+"/"+child, depth+1); err != nil {
				return err
			}
		}
	}
	// One level deeper, so that a node that keeps getting new children
	// ends the recursion too.
	return zkDelete(ctx, conn, path, depth+1)
}

// zkDelete deletes the node path, and its subtree if it has one; a node
// that is already gone is no error.
func zkDelete(ctx context.Context, conn *zk.Conn, path string, depth int) error {
	err := conn.Delete(path, -1)
	switch {
	case err == nil, errors.Is(err, zk.ErrNoNode):
		return nil
	case errors.Is(err, zk.ErrNotEmpty):
		return zkDeleteTree(ctx, conn, path, depth)
	default:
		return fmt.Errorf("delete %s: %w", path, err)
	}
}

func (z *zooKeeper) close() {
	if z.admin != nil {
		z.admin.Close()
	}
}
