package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

// etcd client settings.
const (
	etcdDialTimeout = 5 * time.Second
	// etcdConnectTimeout bounds a new client's first request, which
	// shows that the connection works.
	etcdConnectTimeout = 15 * time.Second
	// etcdSessionTTL is the lease TTL of a lock contender's session, in
	// seconds (as concurrency.WithTTL takes it).
	etcdSessionTTL = 10
	// etcdBatchOps is how many puts one setup transaction holds (etcd
	// refuses more than --max-txn-ops, 128 by default).
	etcdBatchOps = 100
	// etcdBatchBytes bounds the data one setup transaction carries, below
	// etcd's request limit (--max-request-bytes, 1.5 MiB by default).
	etcdBatchBytes = 1 << 20
	// etcdDeleteBatch is how many keys one cleanup range delete removes,
	// so that a million keys do not go in one transaction.
	etcdDeleteBatch = 10_000
	// etcdMaxDeleteRounds bounds the cleanup loop: 10^9 keys.
	etcdMaxDeleteRounds = 100_000
	// etcdUnlockTimeout bounds a release after the run was cancelled.
	etcdUnlockTimeout = 10 * time.Second
)

// etcd drives etcd through clientv3. Keys live under the prefix
// "<root>/".
type etcd struct {
	cfg      config
	value    string
	keys     []string // the data keys of set, get and mixed
	rngs     []*rand.Rand
	counters []uint64 // create: the next key number of each client
	getOpts  []clientv3.OpOption

	admin   *clientv3.Client   // setup and cleanup
	clients []*clientv3.Client // the load clients (the writer alone for watch)

	sessions []*concurrency.Session // lock: one per client
	mutexes  []*concurrency.Mutex

	watchers     []*clientv3.Client // watch: one client per watcher
	stopWatching context.CancelFunc
	watching     sync.WaitGroup
	tracker      *loadgen.WatchTracker
}

// newEtcd returns a driver of etcd for cfg; setup connects it.
func newEtcd(cfg config) *etcd {
	e := &etcd{
		cfg:      cfg,
		value:    string(fillValue(cfg.valueBytes)),
		rngs:     newRands(loadClients(cfg)),
		counters: make([]uint64, loadClients(cfg)),
	}
	if cfg.serializable {
		e.getOpts = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return e
}

// server is the address client i uses: clients go round-robin over the
// servers.
func (e *etcd) server(i int) string { return e.cfg.servers[i%len(e.cfg.servers)] }

// etcdConnect makes a client of server and checks that it can talk to it.
func etcdConnect(ctx context.Context, server string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://" + server},
		DialTimeout: etcdDialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	ctx, cancel := context.WithTimeout(ctx, etcdConnectTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, "/", clientv3.WithSerializable(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	return cli, nil
}

func (e *etcd) setup(ctx context.Context) error {
	var err error
	if e.admin, err = etcdConnect(ctx, e.server(0)); err != nil {
		return err
	}
	if e.cfg.workload == "set" || e.cfg.workload == "get" || e.cfg.workload == "mixed" {
		if err := e.setupData(ctx); err != nil {
			return err
		}
	}
	e.clients = make([]*clientv3.Client, loadClients(e.cfg))
	if err := loadgen.ForEach(ctx, len(e.clients), setupParallelism, func(ctx context.Context, i int) error {
		cli, err := etcdConnect(ctx, e.server(i))
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		e.clients[i] = cli
		return nil
	}); err != nil {
		return err
	}
	switch e.cfg.workload {
	case "lock":
		return e.setupLocks(ctx)
	case "watch":
		return e.setupWatchers(ctx)
	}
	return nil
}

// setupData puts the 1,000 data keys, a transaction per batch.
func (e *etcd) setupData(ctx context.Context) error {
	e.keys = make([]string, dataNodes)
	for i := range e.keys {
		e.keys[i] = e.cfg.root + "/data/" + strconv.Itoa(i)
	}
	// Each put carries the value and about a hundred bytes more.
	batchOps := max(1, min(etcdBatchOps, etcdBatchBytes/(len(e.value)+100)))
	for start := 0; start < len(e.keys); start += batchOps {
		batch := e.keys[start:min(start+batchOps, len(e.keys))]
		ops := make([]clientv3.Op, len(batch))
		for i, k := range batch {
			ops[i] = clientv3.OpPut(k, e.value)
		}
		if _, err := e.admin.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("put %s...: %w", batch[0], err)
		}
	}
	return nil
}

// setupLocks gives each client a session and a mutex on "<root>/lock".
func (e *etcd) setupLocks(ctx context.Context) error {
	e.sessions = make([]*concurrency.Session, len(e.clients))
	e.mutexes = make([]*concurrency.Mutex, len(e.clients))
	return loadgen.ForEach(ctx, len(e.clients), setupParallelism, func(ctx context.Context, i int) error {
		// The session's keep-alives live on the client's own context,
		// not on the setup's.
		s, err := concurrency.NewSession(e.clients[i], concurrency.WithTTL(etcdSessionTTL))
		if err != nil {
			return fmt.Errorf("client %d: session: %w", i, err)
		}
		e.sessions[i] = s
		e.mutexes[i] = concurrency.NewMutex(s, e.cfg.root+"/lock")
		return nil
	})
}

// setupWatchers puts the watched key, connects the watchers and starts
// their watches from the revision after the put, so that none misses a
// write.
func (e *etcd) setupWatchers(ctx context.Context) error {
	key := e.cfg.root + "/watch"
	put, err := e.admin.Put(ctx, key, e.value)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	rev := put.Header.Revision
	e.tracker = loadgen.NewWatchTracker(e.cfg.watchers, rev)
	e.watchers = make([]*clientv3.Client, e.cfg.watchers)
	// The watches outlive setup's context: they end in closeClients.
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stopWatching = stop
	return loadgen.ForEach(ctx, e.cfg.watchers, setupParallelism, func(ctx context.Context, i int) error {
		// The writer is client 0; the watchers come after it.
		cli, err := etcdConnect(ctx, e.server(1+i))
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		e.watchers[i] = cli
		ch := cli.Watch(watchCtx, key, clientv3.WithRev(rev+1), clientv3.WithCreatedNotify())
		select {
		case resp, ok := <-ch:
			if !ok || !resp.Created {
				return fmt.Errorf("watcher %d: watch %s: not created: %v", i, key, resp.Err())
			}
		case <-ctx.Done():
			return fmt.Errorf("watcher %d: watch %s: %w", i, key, ctx.Err())
		}
		e.watching.Go(func() { e.watch(watchCtx, i, ch) })
		return nil
	})
}

// watch is watcher i's loop: it reports the revision of each event to the
// tracker until the watch ends.
func (e *etcd) watch(ctx context.Context, i int, ch clientv3.WatchChan) {
	for resp := range ch {
		at := time.Now()
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				e.tracker.Fail(i, fmt.Errorf("watch: %w", err))
			}
			return
		}
		for _, ev := range resp.Events {
			e.tracker.Saw(i, ev.Kv.ModRevision, at)
		}
	}
	if ctx.Err() == nil {
		e.tracker.Fail(i, fmt.Errorf("watch ended"))
	}
}

func (e *etcd) op(ctx context.Context, c int) (time.Duration, error) {
	cli := e.clients[c]
	rng := e.rngs[c]
	start := time.Now()
	switch e.cfg.workload {
	case "create":
		key := e.cfg.root + "/create/" + strconv.Itoa(c) + "-" + strconv.FormatUint(e.counters[c], 10)
		e.counters[c]++
		if _, err := cli.Put(ctx, key, e.value); err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
	case "set":
		if err := e.set(ctx, cli, rng); err != nil {
			return 0, err
		}
	case "get":
		if err := e.get(ctx, cli, rng); err != nil {
			return 0, err
		}
	case "mixed":
		var err error
		if rng.Float64() < 0.9 {
			err = e.get(ctx, cli, rng)
		} else {
			err = e.set(ctx, cli, rng)
		}
		if err != nil {
			return 0, err
		}
	case "watch":
		return e.write(ctx, cli)
	case "lock":
		if err := e.lockOnce(ctx, c); err != nil {
			return 0, err
		}
	default:
		panic(fmt.Sprintf("cmpbench: unchecked workload %q", e.cfg.workload))
	}
	return time.Since(start), nil
}

func (e *etcd) get(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
	key := e.keys[rng.IntN(len(e.keys))]
	resp, err := cli.Get(ctx, key, e.getOpts...)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) != 1 {
		return fmt.Errorf("get %s: not found", key)
	}
	return nil
}

func (e *etcd) set(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
	key := e.keys[rng.IntN(len(e.keys))]
	if _, err := cli.Put(ctx, key, e.value); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// write is one op of the watch workload: put the watched key, then wait
// until every watcher has seen the put's revision.
func (e *etcd) write(ctx context.Context, cli *clientv3.Client) (time.Duration, error) {
	key := e.cfg.root + "/watch"
	resp, err := cli.Put(ctx, key, e.value)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	acked := time.Now()
	last, err := e.tracker.Wait(ctx, resp.Header.Revision)
	if err != nil {
		return 0, fmt.Errorf("wait for the watchers of revision %d: %w", resp.Header.Revision, err)
	}
	return loadgen.WatchLatency(acked, last), nil
}

// lockOnce acquires and releases client c's mutex. The release runs on a
// context of its own, so that a lock acquired just as the run ends is
// released rather than left to the session's expiry.
func (e *etcd) lockOnce(ctx context.Context, c int) error {
	m := e.mutexes[c]
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), etcdUnlockTimeout)
	defer cancel()
	if err := m.Unlock(uctx); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

func (e *etcd) closeClients() {
	if e.stopWatching != nil {
		e.stopWatching()
	}
	closeAll(len(e.sessions), func(i int) {
		if e.sessions[i] != nil {
			// Revokes the lease, so that no contender's key is left.
			e.sessions[i].Close()
		}
	})
	clients := append(e.clients[:len(e.clients):len(e.clients)], e.watchers...)
	closeAll(len(clients), func(i int) {
		if clients[i] != nil {
			clients[i].Close()
		}
	})
	e.watching.Wait()
	e.sessions, e.mutexes, e.clients, e.watchers = nil, nil, nil, nil
}

// cleanup deletes every key under "<root>/", a range of at most
// etcdDeleteBatch keys at a time.
func (e *etcd) cleanup(ctx context.Context) error {
	if e.admin == nil {
		return nil
	}
	prefix := e.cfg.root + "/"
	for range etcdMaxDeleteRounds {
		resp, err := e.admin.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(etcdDeleteBatch))
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		first, last := string(resp.Kvs[0].Key), string(resp.Kvs[len(resp.Kvs)-1].Key)
		// A range end is exclusive; the key right after last is
		// last with a zero byte appended.
		if _, err := e.admin.Delete(ctx, first, clientv3.WithRange(last+"\x00")); err != nil {
			return fmt.Errorf("delete %s to %s: %w", first, last, err)
		}
	}
	return fmt.Errorf("delete %s: keys left after %d rounds of %d", prefix, etcdMaxDeleteRounds, etcdDeleteBatch)
}

func (e *etcd) close() {
	if e.admin != nil {
		e.admin.Close()
	}
}
