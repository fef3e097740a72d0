package recipes

import (
	"context"
	"strings"

	"github.com/arbor-coord/arbor/client"
)

// RWMutex is a fair distributed readers-writer lock. Readers and writers
// line up as ephemeral sequential nodes under a directory node: a writer
// holds the lock when no node is before its own, a reader when no writer's
// node is. A writer waits for its immediate predecessor and a reader for
// the nearest writer before it, so that a release wakes only those it lets
// in. Being fair, a waiting writer keeps out the readers that come after
// it.
//
// An RWMutex value is one contender, holding at most one of the two modes
// at a time; calls on it must not overlap (ErrBusy), as with Mutex. Its
// Token and Lost describe the current hold, in either mode, as Mutex's do:
// the tokens of successive writers strictly increase, and a writer's token
// is higher than that of every reader it followed.
type RWMutex struct {
	l lease
}

// NewRWMutex returns a contender for the readers-writer lock kept under dir
// on c's session. The directory is created (as a container node) when it is
// first needed; a dir that is not a valid path is reported by the first
// call.
func NewRWMutex(c *client.Client, dir string) *RWMutex {
	return &RWMutex{l: newLease(c, dir)}
}

// The tags of an RWMutex's nodes: PREFIX "read-" SEQUENCE and PREFIX
// "write-" SEQUENCE.
const (
	readTag  = "read-"
	writeTag = "write-"
)

func rwTags() []string { return []string{readTag, writeTag} }

// noWriterBefore holds a read lock when no writer's node is before its
// own, and otherwise waits for the nearest one.
func noWriterBefore(line []contender, i int) (bool, string) {
	for j := i - 1; j >= 0; j-- {
		if strings.Contains(line[j].name, writeTag) {
			return false, line[j].name
		}
	}
	return true, ""
}

// RLock waits until the lock is held for reading. Its errors are
// Mutex.Lock's.
func (rw *RWMutex) RLock(ctx context.Context) error {
	return rw.l.acquire(ctx, "rlock", readTag, rwTags(), noWriterBefore, true, nil)
}

// TryRLock takes the lock for reading if no writer holds it or waits for
// it, and returns ErrLocked at once otherwise.
func (rw *RWMutex) TryRLock(ctx context.Context) error {
	return rw.l.acquire(ctx, "tryrlock", readTag, rwTags(), noWriterBefore, false, nil)
}

// RUnlock releases a read hold; it returns ErrNotLocked if this value does
// not hold the lock for reading. Its other outcomes are Mutex.Unlock's.
func (rw *RWMutex) RUnlock(ctx context.Context) error {
	return rw.l.release(ctx, "runlock", readTag)
}

// Lock waits until the lock is held for writing. Its errors are
// Mutex.Lock's.
func (rw *RWMutex) Lock(ctx context.Context) error {
	return rw.l.acquire(ctx, "lock", writeTag, rwTags(), firstInLine, true, nil)
}

// TryLock takes the lock for writing if no one holds it or waits for it,
// and returns ErrLocked at once otherwise.
func (rw *RWMutex) TryLock(ctx context.Context) error {
	return rw.l.acquire(ctx, "trylock", writeTag, rwTags(), firstInLine, false, nil)
}

// Unlock releases a write hold; it returns ErrNotLocked if this value does
// not hold the lock for writing. Its other outcomes are Mutex.Unlock's.
func (rw *RWMutex) Unlock(ctx context.Context) error {
	return rw.l.release(ctx, "unlock", writeTag)
}

// Token returns the fencing token of the current hold (the lock node's
// Czxid), or 0 when the lock is not held.
func (rw *RWMutex) Token() int64 { return rw.l.fencingToken() }

// Lost returns a channel closed when the current hold, in either mode,
// ends: lost, or released. When the lock is not held it is closed already.
func (rw *RWMutex) Lost() <-chan struct{} { return rw.l.lostCh() }
