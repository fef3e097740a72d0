// Package proxy is a loopback TCP proxy for the conformance fault suite. The
// suite puts one Proxy in front of each listener of each `arbor server`
// process (peer and client) and drives network faults through it: a
// partition (Block), a slow link (Delay) and cut connections (Cut).
//
// A Proxy listens on a loopback address and forwards every connection it
// accepts to one Target. Faults are chosen per source, a uint64 naming who
// dialled. The proxy learns the source of a connection from the first bytes
// the dialer sends, through Config.Identify; PeerSource reads it from an
// arbor peer stream's handshake. Without Identify every source is 0.
//
// # Faults
//
//   - Block(s) is a black hole, not a reset: bytes of connections from s are
//     read and thrown away in both directions, and nothing is closed, so
//     each end sees a connection that has gone silent. New connections from
//     s are accepted and black-holed the same way; the target is not dialled
//     for them. Unblock(s) closes (with a reset) every connection that was
//     black-holed, since their streams have lost bytes; later connections
//     are forwarded. BlockAll holds for every source, present and future.
//   - Delay(s, d) delivers every chunk read on a connection from s, in
//     either direction, d after it was read, in order. Chunks wait in a
//     timestamped queue per direction, so a delay adds latency without
//     slowing the stream to a chunk per d; only the queue's bound limits it,
//     to Config.QueueBytes per d. A new delay applies to chunks read
//     afterwards.
//   - Cut(s) resets the connections from s open now; later ones are
//     forwarded.
//
// # Limits
//
// Every queue is bounded (Config.QueueBytes per direction: a full queue
// stops the reader, which pushes back on the sender), as is the number of
// connections (Config.MaxConns), the wait for an identifying head
// (Config.IdentifyTimeout) and the dial to the target (Config.DialTimeout).
// A half-close is forwarded (CloseWrite on the other side, after the data
// before it); a connection is closed once both directions are done, or at
// once when either side fails. Close stops every goroutine the Proxy started
// and waits for them.
//
// The proxy refuses to listen anywhere but on a loopback address: it is a
// test tool, and it must not open a member's ports to the network.
package proxy
