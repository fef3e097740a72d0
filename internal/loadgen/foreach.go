package loadgen

import (
	"context"
	"sync"
)

// ForEach calls fn(ctx, i) for i in [0, n), at most limit at a time (at
// least one), and returns the first error. Once a call fails, the calls
// not yet started are not made and the running ones see ctx cancelled; if
// ctx ends first, ForEach returns its error, as the work is not done. Load
// tools use it to open and close hundreds of sessions before and after a
// run without waiting for each in turn.
func ForEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	sem := make(chan struct{}, max(limit, 1))
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
