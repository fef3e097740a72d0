// Command cmpbench drives ZooKeeper or etcd with the same workloads as
// `arbor bench`, measured by the same closed-loop load runner
// (internal/loadgen), so that the three systems can be compared side by
// side on one machine.
//
// Usage:
//
//	cmpbench -system zookeeper|etcd [-servers host:port,...] [-workload W]
//	         [-clients N] [-duration D] [-warmup D] [-value-size B]
//	         [-watchers N] [-max-ops N] [-root R] [-keep] [-serializable] [-json]
//
// Each client has its own session (ZooKeeper: its own zk.Conn; etcd: its
// own clientv3.Client) and keeps one request in flight; clients are spread
// round-robin over -servers. The workloads:
//
//	create  each op creates a node of -value-size bytes (default 100).
//	        ZooKeeper: a persistent sequential node <root>/create/n-.
//	        etcd has no sequential keys; the closest equivalent is a Put of
//	        a new key <root>/create/<client>-<counter> (a second run with
//	        -keep and the same -root overwrites the first run's keys).
//	set     setup makes 1,000 nodes <root>/data/<i> of -value-size bytes
//	        (default 1024); each op overwrites one at random
//	        (ZooKeeper: Set with version -1; etcd: Put).
//	get     each op reads one of those nodes at random (ZooKeeper:
//	        getData; etcd: a linearizable Get, or a serializable one with
//	        -serializable).
//	mixed   each op is a get with probability 0.9, else a set.
//	watch   -watchers clients (default -clients) each watch <root>/watch;
//	        one more client, the writer, sets it in a closed loop: set,
//	        wait until every watcher has seen the change, repeat. One op is
//	        one write; its latency runs from the write's acknowledgement to
//	        the moment the last watcher received its event (0 when every
//	        event came before the acknowledgement). The result's "clients"
//	        is 1 (the writer) and "watchers" is the watcher count.
//	        ZooKeeper: go-zookeeper v1.0.4 has no persistent watches, so each
//	        watcher uses GetW and re-arms it after every event; its event
//	        counts as received when it arrived, if the re-read shows exactly
//	        one change since the watcher's last read, and otherwise when the
//	        re-read returned (a change that landed between the event and the
//	        re-arm fires no event of its own). etcd: Watch from the key's
//	        revision, each event carrying its revision.
//	lock    -clients contenders on one lock <root>/lock; an op is an acquire
//	        and a release, timed from the call to acquire until the release
//	        returns. ZooKeeper: zk.NewLock; etcd: concurrency.NewMutex on a
//	        session (TTL 10 s) per client.
//
// Setup (the root, the 1,000 nodes, the watchers, the sessions) is not
// measured. At the end the run removes -root and everything under it
// (ZooKeeper: multi batches of deletes; etcd: range deletes of the prefix
// "<root>/" in batches), unless -keep is given.
//
// Output: one line on stdout,
//
//	create: 64 clients, 10.0 s: 21,213 ops/s, p50 2.41 ms, p99 13.2 ms, p99.9 40.1 ms, max 80.3 ms, 0 errors
//
// or with -json one object in the format `arbor --output json bench` prints
// (with "system" set to "zookeeper" or "etcd"). A progress line goes to
// stderr every second of the measured part. The exit status is 0 when the
// run measured no errors, 1 when it did or could not run, 2 for bad flags.
package main
