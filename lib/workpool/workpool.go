// Package workpool runs a batch of calls with a bound on how many run at
// once: the one worker pool of ocm.
package workpool

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Run calls f(ctx, i) for every i in [0, n), at most limit at once (limit
// < 1: no bound, for fan-outs whose work is bounded further down). Every i
// is called, so f may hand results on; the first error cancels the context
// the calls get, and Run returns that error once all calls have returned.
func Run(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	if n == 1 {
		return f(ctx, 0)
	}
	// Not errgroup.WithContext: it cancels with the error as the cause,
	// and net/http gives a request cut by a cancel its cause as the
	// error, so the other calls' requests would seem to fail with this
	// call's error (a 500 is retried, and counted as a retry).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i := 0; i < n; i++ {
		g.Go(func() error {
			err := f(ctx, i)
			if err != nil {
				cancel()
			}
			return err
		})
	}
	return g.Wait()
}
