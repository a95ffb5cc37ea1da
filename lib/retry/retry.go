// Package retry runs an operation again after transient failures, with
// exponential backoff and jitter.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// Policy bounds the retries of one operation.
type Policy struct {
	Attempts int           // total tries, including the first
	Base     time.Duration // first wait
	Max      time.Duration // cap on one wait
}

// Default suits registries: 5 tries, waits of about 0.25s, 0.5s, 1s, 2s.
var Default = Policy{Attempts: 5, Base: 250 * time.Millisecond, Max: 20 * time.Second}

// Temporary is implemented by errors that know whether a retry may help, and
// optionally how long the server asked us to wait.
type Temporary interface {
	Temporary() bool
}

type retryAfter interface {
	RetryAfter() time.Duration
}

// Retryable reports whether err looks transient: a server asking us to slow
// down or failing inside, a connection reset or cut short, a timeout.
func Retryable(err error) bool {
	var p *permanent
	var x *ExhaustedError
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &p) || errors.As(err, &x) {
		return false
	}
	// Connection-level failures first: net.OpError says Temporary() is
	// false for a reset, yet asking again is exactly what helps.
	// net.ErrClosed: the transport closed the connection under an upload
	// still writing its body, after the peer reset it or answered early.
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var t Temporary
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return false
}

// Do calls f until it succeeds, fails for good, the attempts run out or ctx ends.
// onRetry (may be nil) hears about each retry before the wait.
func (p Policy) Do(ctx context.Context, f func() error, onRetry func(attempt int, wait time.Duration, err error)) error {
	return p.Budget().Do(ctx, nil, f, onRetry)
}

// Budget is the tries of one request, spent across calls of Do: a download
// resumed after its stream was cut spends from the budget of the request
// that opened it, so a request is never tried more than Attempts times.
type Budget struct {
	p    Policy
	used int
}

// Budget returns a fresh budget of p.Attempts tries.
func (p Policy) Budget() *Budget { return &Budget{p: p} }

// Do is Policy.Do on what is left of the budget. after, when not nil, is the
// error that ended the last try (a stream cut): Do decides on it, as on any
// failed try, before calling f. It is not safe for concurrent use.
func (b *Budget) Do(ctx context.Context, after error, f func() error, onRetry func(attempt int, wait time.Duration, err error)) error {
	attempts := max(b.p.Attempts, 1)
	err := after
	for {
		if err != nil {
			if !Retryable(err) {
				return err
			}
			if b.used >= attempts {
				if attempts > 1 {
					err = &ExhaustedError{Tries: b.used, Err: err}
				}
				return err
			}
			wait := b.p.backoff(b.used)
			var ra retryAfter
			if errors.As(err, &ra) && ra.RetryAfter() > 0 {
				wait = min(ra.RetryAfter(), max(b.p.Max, time.Second))
			}
			if onRetry != nil {
				onRetry(b.used, wait, err)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		b.used++
		if err = f(); err == nil {
			return nil
		}
	}
}

// ExhaustedError is the error of a request whose tries are all spent on
// transient failures: the message says how many were made, and no layer
// above tries it again (Retryable is false), so a request is never sent
// more than Attempts times.
type ExhaustedError struct {
	Tries int
	Err   error // the error of the last try
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%v (failed after %d tries)", e.Err, e.Tries)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

// Permanent marks err as not to be retried by this layer whatever it wraps
// (the layer below has retried it already); errors.Is and As still see it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// backoff is Base*2^(attempt-1), capped, with +-25% jitter so that many
// workers hitting the same busy registry do not retry in lockstep.
func (p Policy) backoff(attempt int) time.Duration {
	d := p.Base << (attempt - 1)
	if p.Max > 0 && (d > p.Max || d <= 0) {
		d = p.Max
	}
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + j
}
