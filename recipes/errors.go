package recipes

import "errors"

// The outcomes a caller is expected to handle, for errors.Is. The recipes
// return them wrapped with the operation and the path ("recipes: trylock
// /app/lock: lock held by another").
var (
	// ErrLocked is returned by TryLock, TryRLock and TryAcquire when the
	// lock (or every permit) is held by others.
	ErrLocked = errors.New("lock held by another")
	// ErrNotLocked is returned by Unlock, RUnlock and Release when this
	// value does not hold the lock (in that mode).
	ErrNotLocked = errors.New("lock not held")
	// ErrLockLost is returned when a lock held was lost (the session ended
	// or the lock node was deleted by someone else), and by Lock when the
	// node that kept its place in line was deleted by someone else.
	ErrLockLost = errors.New("lock lost")
	// ErrHeld is returned by Lock, RLock and Acquire on a value that holds
	// already: a value is one holder, and locks are not reentrant. Use
	// another value for another holder.
	ErrHeld = errors.New("lock already held by this value")
	// ErrBusy is returned when a call on a lock value starts while another
	// call on the same value is still running: a value is one contender,
	// so concurrent calls on it are a programming error. Use one value per
	// goroutine that contends.
	ErrBusy = errors.New("another call on this lock value is in progress")
	// ErrPermitsMismatch is returned by a Semaphore whose permit count
	// differs from the one recorded in its directory by the contenders
	// already there.
	ErrPermitsMismatch = errors.New("semaphore permits differ from the directory's")
)
