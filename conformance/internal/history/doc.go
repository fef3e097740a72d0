// Package history records what the clients of a fault run did and checks
// the records against arbor's guarantees, after the run.
//
// It is pure: it does no I/O but for writing a history to a directory for a
// post-mortem, and knows nothing of the client. The suite maps each
// client's errors to an Outcome itself.
//
// The suite's contract:
//
//  1. Create one Recorder per workload, all with the same now, so that
//     times from different records compare; take times outside
//     operations (a session's end, a watcher's lifetime) from
//     Recorder.Now.
//  2. Call Invoke just before sending a request and Pending.Return once its
//     answer (or the decision to stop waiting) is known. A client has at
//     most one operation in flight: its operations never overlap.
//  3. Return OK for an acknowledged operation, Fail only when the operation
//     certainly had no effect (BadVersion, NoNode, NodeExists), and Unknown
//     whenever it may have taken effect or may still take effect later
//     (timeouts, lost connections, a session expiring during a write). An
//     operation never returned counts as Unknown.
//  4. After the run, stop every client, then pass Recorder.Ops to the
//     checkers: CheckRegister (linearizability of get, set and cas, by
//     porcupine), CheckSequential (sequential creates), CheckEphemerals and
//     CheckWatches. Each names the operations involved in what it reports.
//  5. On a failure, Save each history (and RegisterResult.Save the
//     linearizability visualization) into a directory per workload.
//
// Indeterminate writes are modelled soundly: the checkers assume such a
// write may have applied at any time after its call, or never.
package history
