package session

import (
	"errors"
	"fmt"
)

// Session id layout: bit 63 is 0 (ids are positive), bits 62–48 hold the
// member id, bits 47–0 a per-member counter.
const (
	counterBits = 48
	counterMask = 1<<counterBits - 1
)

// MaxMember is the largest member id that NewIDs accepts (15 bits).
const MaxMember = 1<<(63-counterBits) - 1

// ErrIDsExhausted is returned by IDs.Next once the 48-bit counter has run
// out (2^48 - seed ids: centuries at any real rate of session creation).
var ErrIDsExhausted = errors.New("session: session id counter exhausted")

// IDs generates the session ids of one member.
//
// An id is the member id in bits 62–48 and a counter in bits 47–0; the
// counter starts at the seed and grows by one per id. Ids are unique:
//
//   - ids of different members differ in the member bits;
//   - ids of one generator differ in the counter, which never wraps (Next
//     fails instead);
//   - ids of successive generators of one member differ as long as each
//     seed is above every counter the member issued before. The server
//     passes the larger of its wall clock in milliseconds at start and one
//     more than the highest counter of this member among the sessions in
//     the replicated state. The clock alone suffices when the member issued
//     fewer ids than milliseconds passed between its starts and the clock
//     did not step back (ZooKeeper's argument); the state alone covers a
//     stepped clock for every id that was committed.
//
// No id is 0, since the member id is at least 1.
type IDs struct {
	member uint64
	next   uint64
}

// NewIDs returns a generator of ids for the member with the given id
// (1 ≤ member ≤ MaxMember) whose first counter is seed (seed < 2^48).
func NewIDs(member, seed uint64) (*IDs, error) {
	if member == 0 || member > MaxMember {
		return nil, fmt.Errorf("session: member id %d out of range [1, %d]", member, MaxMember)
	}
	if seed > counterMask {
		return nil, fmt.Errorf("session: id seed %d exceeds %d", seed, uint64(counterMask))
	}
	return &IDs{member: member, next: seed}, nil
}

// Next returns a new session id, or ErrIDsExhausted.
func (g *IDs) Next() (int64, error) {
	if g.next > counterMask {
		return 0, ErrIDsExhausted
	}
	id := int64(g.member<<counterBits | g.next)
	g.next++
	return id, nil
}

// SplitID returns the member id and counter of a session id made by IDs
// (for the seed of NewIDs after a restart, and for logs).
func SplitID(id int64) (member, counter uint64) {
	return uint64(id) >> counterBits, uint64(id) & counterMask
}
