package workpool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		n, limit   int
		failAt     int // -1: none
		wantErr    error
		wantAtMost int32 // calls at once; 0: n
	}{
		{"bounded", 20, 3, -1, nil, 3},
		{"unbounded", 5, 0, -1, nil, 0},
		{"one", 1, 4, -1, nil, 1},
		{"none", 0, 4, -1, nil, 0},
		{"first error is returned, every call made", 10, 2, 4, boom, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var running, peak, calls atomic.Int32
			err := Run(context.Background(), tc.n, tc.limit, func(ctx context.Context, i int) error {
				calls.Add(1)
				now := running.Add(1)
				defer running.Add(-1)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				if i == tc.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Run: %v, want %v", err, tc.wantErr)
			}
			if int(calls.Load()) != tc.n {
				t.Errorf("%d calls, want %d", calls.Load(), tc.n)
			}
			want := tc.wantAtMost
			if want == 0 {
				want = int32(tc.n)
			}
			if peak.Load() > want {
				t.Errorf("%d calls at once, want at most %d", peak.Load(), want)
			}
		})
	}
}

// TestRunCancelsAfterAnError: the calls still running or yet to run see a
// cancelled context once one has failed.
func TestRunCancelsAfterAnError(t *testing.T) {
	boom := errors.New("boom")
	var cancelled atomic.Int32
	err := Run(context.Background(), 4, 1, func(ctx context.Context, i int) error {
		if i == 0 {
			return boom
		}
		if ctx.Err() != nil {
			cancelled.Add(1)
		}
		return nil
	})
	if !errors.Is(err, boom) || cancelled.Load() != 3 {
		t.Fatalf("Run: %v, %d calls saw the cancel; want boom, 3", err, cancelled.Load())
	}
}

// TestRunCancelsWithoutCause: the others' context is cancelled plainly, not
// with the failed call's error as its cause (net/http would hand that
// error to their requests, and a retryable one would be retried).
func TestRunCancelsWithoutCause(t *testing.T) {
	boom := errors.New("boom")
	var cause error
	Run(context.Background(), 2, 1, func(ctx context.Context, i int) error {
		if i == 0 {
			return boom
		}
		cause = context.Cause(ctx)
		return nil
	})
	if !errors.Is(cause, context.Canceled) {
		t.Fatalf("cause %v, want context.Canceled", cause)
	}
}
