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
	g, ctx := errgroup.WithContext(ctx)
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i := 0; i < n; i++ {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}
