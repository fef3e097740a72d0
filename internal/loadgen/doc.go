// Package loadgen runs a closed-loop load and measures it: a number of
// clients, each with one request in flight at a time, for a bounded time and
// a bounded count of operations, with latencies kept in a log-linear
// histogram (relative error under 1%) and a progress report every interval.
//
// It knows nothing of arbor: the caller gives it the operation to run. The
// `arbor bench` command drives arbor with it, and bench/cmd/cmpbench drives
// ZooKeeper and etcd with the same code, so that the three are measured the
// same way.
package loadgen
