// Package tree is arbor's replicated state machine: the znode namespace
// (ZooKeeper's data model) and the records of open sessions, stored in
// Pebble and changed only by applying committed commands.
//
// It knows nothing of Raft or sockets. The server's apply loop hands it
// runs of committed entries (Apply); each run is applied in one Pebble
// batch together with the new applied index, so a restart resumes exactly
// after the last applied run. The zxid of every change is the index of the
// entry that made it. Given the same entries, every member's state is byte
// for byte the same: nothing in apply reads a clock, a random source, or
// depends on map order; the time is carried in the command. Digest hashes
// the whole state so members can compare, and Export/Import move it as a
// stream (what Raft ships to a lagging member).
//
// Reads (Get, Children, Exists, ...) are served from the applied state and
// may run concurrently with Apply. ACLs are checked with the identities
// carried in each command or passed to each read. Expected outcomes are
// errcode values: a Result's Code, or the error of a read, matched with
// errors.Is. Any other error is a storage failure.
//
// Semantics follow ZooKeeper's programmer's guide; the differences are
// written down where they occur (ephemeralOwner is 0 for container and TTL
// nodes; children are listed sorted; /arbor is reserved for the system;
// writes may carry a session that must still be open at apply).
//
// The keys are laid out in keys.go; the record formats in node.go and
// snapshot.go are durable and versioned, as is the command codec.
package tree
