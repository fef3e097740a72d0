// Package client is the Go client of arbor, a coordination service with
// ZooKeeper's data model spoken over a WebSocket (docs/PROTOCOL.md).
//
// Connect opens a session on one of the listed members and returns once the
// session is established. A Client is safe for concurrent use: requests are
// pipelined on one connection, matched to their responses by request id, and
// answered in the order they were sent. Every operation takes a
// context.Context first; when it ends, the operation returns its error (the
// request may still take effect on the member).
//
// # Sessions and reconnects
//
// The session outlives connections. When a connection is lost, the client
// reconnects with backoff to any listed member, resumes the session (id,
// password, last zxid, auth identities and watches) and resends every request
// that has not been answered. Writes carry the session's sequence numbers, so
// a retried write is applied exactly once and returns its one true result:
// a caller never sees ConnectionLoss for a write the client could retry. If
// the client hears from no member for the whole session timeout it declares
// the session expired itself, as the member's leader will have done: every
// pending and later operation then fails with ErrSessionExpired and the
// client is finished (Done is closed). Start a new Client to go on.
//
// State reports where the session stands; WithStateFunc observes every
// change (Connected, Disconnected, Expired, Closed).
//
// # Reads
//
// Reads are answered by the connected member from its own state, which may
// lag behind the leader but never goes back for this client: a member the
// session moves to answers only once it has caught up with LastZxid. Sync
// makes the next read linearizable; ReadMulti runs several reads against
// one state.
//
// # Errors
//
// Errors from the member are *Error values carrying the operation, the path
// and the code; they match the sentinels with errors.Is:
//
//	if errors.Is(err, client.ErrNoNode) { ... }
//
// # Watches
//
// GetW, ExistsW and ChildrenW set one-shot watches and return a channel that
// receives at most one Event and is then closed. A channel closed without an
// event means RemoveWatches removed the watch, or the session ended (expired
// or closed), before the watch fired. AddWatch sets a persistent watch, a
// Watcher, which lasts until it is closed.
// Watches survive reconnects: the client re-registers them and the member
// reports what changed while it was away (Event.CatchUp).
package client
