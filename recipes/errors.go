package recipes

import "errors"

// The outcomes a caller is expected to handle, for errors.Is.
var (
	// ErrLocked is returned by TryLock when the lock is held by another.
	ErrLocked = errors.New("recipes: lock held by another")
	// ErrNotLocked is returned by Unlock when this value does not hold the
	// lock.
	ErrNotLocked = errors.New("recipes: lock not held")
	// ErrLockLost is returned when a lock held was lost: the session ended
	// or the lock node was deleted by someone else.
	ErrLockLost = errors.New("recipes: lock lost")
)
