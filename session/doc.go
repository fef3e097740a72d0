// Package session is the pure logic of arbor's sessions: session ids,
// password digests, timeout negotiation and the leader's expiry tracker.
//
// Creating, closing and expiring a session are Raft commands applied by
// tree (CreateSession, CloseSession); this package decides what goes into
// them and when the leader proposes an expiry. It starts no goroutines,
// reads no clock and draws no random numbers: the server's owner goroutine
// passes in the time, the random password bytes and the seed of the id
// generator. Nothing here is safe for concurrent use; the owner serialises
// every call.
//
// The server uses it as follows:
//
//  1. At start, validate the configured Limits and build a Tracker from
//     them, and an IDs generator with this member's id and a seed (see
//     NewIDs).
//  2. On a handshake without a session, take a timeout from Negotiate, an
//     id from IDs.Next and PasswordLen random bytes from crypto/rand; put
//     Digest(password) in CreateSession and give the password to the
//     client alone.
//  3. On a handshake that resumes a session, compare the client's password
//     with the digest in the session record using CheckPassword.
//  4. On the leader: Add each session when its CreateSession applies (and
//     every open session on winning an election), Touch the sessions named
//     in each "touched" batch, Remove a session when its CloseSession
//     applies, and call Expired on every tick, proposing
//     CloseSession{Expired: true} for each id it returns. A member that
//     regains leadership with an old tracker calls ResetAll first.
//
// Time in the Tracker is a time.Duration measured on a monotonic clock from
// an origin the owner fixes once (for instance time.Since(start)), never a
// wall-clock reading: expiry must not jump when the wall clock is stepped.
package session
