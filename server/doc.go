// Package server is an arbor member: the composition root that opens the
// store, runs the Raft node and the state machine (tree), and serves
// clients over the WebSocket protocol (docs/PROTOCOL.md).
//
//	srv, err := server.New(server.Config{DataDir: "arbor-data", Listen: "127.0.0.1:7181"})
//	...
//	err = srv.Run(ctx) // until ctx ends; then a graceful Shutdown
//
// A member is one Raft member; today it is always a cluster of one (issue
// 4 adds members). servertest starts members in-process for tests.
//
// # The write path
//
//  1. A connection's pipeline (conn) turns a write request into a
//     tree.Command carrying the session, its identities and its exactly-once
//     sequence numbers, and proposes it (replica.start) without waiting, so
//     that many writes of a connection are in flight at once. The command
//     gets a request id (member id and a sequence that starts at a random
//     point, so an old proposal that commits after a restart can never wake
//     a new request) and the leader's time.
//  2. Raft persists it (one fsync per Ready) and commits it; the state
//     machine applies each committed run to the tree in one Pebble batch.
//  3. While the run is applied, the hub's view lock is held for writing;
//     the hub fires the run's watch events onto the connections and tells
//     the connection of each session the run ended. Only then are the
//     waiters of the run's requests released, so a client always sees a
//     watch event before the response that reflects the change.
//
// # The read path
//
// A read waits (in its connection's order) for the writes sent before it,
// then runs against the applied state with the view lock held for reading,
// so it never reflects a change whose event is not yet queued. Connect
// waits until the member has applied the client's last zxid; sync waits
// for a Raft ReadIndex to be applied.
//
// # Responses in order
//
// Each connection has one goroutine (conn.run) that takes requests in
// arrival order and answers them in that order: writes are answered as
// their results arrive, in order; any other request first drains the
// writes before it. At most Config.MaxInFlight requests are queued; past
// that the endpoint stops reading from the connection.
//
// # Sessions and leader duties
//
// Sessions are created, closed and expired by Raft commands (sessions);
// the leader's tracker expires the sessions not heard from for their
// timeout, and a restarted leader grants every session a full timeout.
// The leader also reaps container and TTL nodes (Server.reap).
//
// # Locks
//
// Lock order: hub.view, then hub.mu, then a conn's mu and sendMu. No lock
// is held across a wait for Raft.
package server
