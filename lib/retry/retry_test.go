package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

type temp bool

func (t temp) Error() string   { return fmt.Sprintf("temporary=%v", bool(t)) }
func (t temp) Temporary() bool { return bool(t) }

func TestRetryable(t *testing.T) {
	opErr := func(err error) error {
		return &net.OpError{Op: "write", Net: "tcp", Err: &os.SyscallError{Syscall: "write", Err: err}}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"cancelled", fmt.Errorf("copy: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"reset", opErr(syscall.ECONNRESET), true},
		{"broken pipe", opErr(syscall.EPIPE), true},
		{"refused", opErr(syscall.ECONNREFUSED), true},
		{"cut short", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), true},
		// What an upload sees when the transport closed the connection
		// under it: "readfrom tcp ...: write tcp ...: use of closed network connection".
		{"closed under an upload", fmt.Errorf("readfrom tcp: %w", &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}), true},
		{"temporary", fmt.Errorf("x: %w", temp(true)), true},
		{"permanent", temp(false), false},
		{"plain", errors.New("manifest unknown"), false},
		{"retried below", fmt.Errorf("x: %w", Permanent(opErrReset())), false},
	}
	for _, tc := range tests {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestDoStopsAtTheBudget(t *testing.T) {
	calls, retries := 0, 0
	err := Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}.Do(context.Background(), func() error {
		calls++
		return opErrReset()
	}, func(int, time.Duration, error) { retries++ })
	if err == nil || calls != 3 || retries != 2 {
		t.Fatalf("err %v after %d calls, %d retries; want an error after 3 calls, 2 retries", err, calls, retries)
	}
	var x *ExhaustedError
	if !errors.As(err, &x) || x.Tries != 3 || !strings.Contains(err.Error(), "failed after 3 tries") {
		t.Errorf("error %q does not say it failed after 3 tries", err)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %q hides the last try's cause", err)
	}
	// A request whose tries are spent is not tried again by a layer above.
	outer := 0
	err = Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}.Do(context.Background(), func() error {
		outer++
		return err
	}, nil)
	if outer != 1 {
		t.Errorf("an exhausted request was tried %d times by the layer above, want 1", outer)
	}
	calls = 0
	err = Policy{Attempts: 5, Base: time.Millisecond, Max: time.Millisecond}.Do(context.Background(), func() error {
		calls++
		return errors.New("not found")
	}, nil)
	if err == nil || calls != 1 {
		t.Fatalf("a permanent error was tried %d times", calls)
	}
}

func opErrReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
}

// TestBudgetSpansCalls: a stream cut after its request succeeded resumes
// on what is left of that request's tries, not on a fresh set.
func TestBudgetSpansCalls(t *testing.T) {
	b := Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}.Budget()
	calls, retries := 0, 0
	onRetry := func(int, time.Duration, error) { retries++ }
	if err := b.Do(context.Background(), nil, func() error { calls++; return nil }, onRetry); err != nil {
		t.Fatal(err)
	}
	err := b.Do(context.Background(), io.ErrUnexpectedEOF, func() error { calls++; return opErrReset() }, onRetry)
	if err == nil || calls != 3 || retries != 2 {
		t.Fatalf("err %v after %d calls, %d retries; want an error after 3 calls in all, 2 retries", err, calls, retries)
	}
}

type slowDown struct{ d time.Duration }

func (s slowDown) Error() string             { return "429" }
func (s slowDown) Temporary() bool           { return true }
func (s slowDown) RetryAfter() time.Duration { return s.d }

// TestRetryAfterIsBounded: a server asking for an hour's wait gets the
// policy's longest wait (at least a second), not the hour.
func TestRetryAfterIsBounded(t *testing.T) {
	tests := []struct {
		name       string
		p          Policy
		retryAfter time.Duration
		want       time.Duration
	}{
		{"asked less than the cap", Policy{Attempts: 2, Base: time.Millisecond, Max: 20 * time.Second}, 2 * time.Second, 2 * time.Second},
		{"asked an hour", Policy{Attempts: 2, Base: time.Millisecond, Max: 20 * time.Second}, time.Hour, 20 * time.Second},
		{"cap below a second", Policy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}, time.Hour, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var got time.Duration
			tc.p.Do(ctx, func() error { return slowDown{tc.retryAfter} }, func(_ int, wait time.Duration, _ error) {
				got = wait
				cancel() // no need to sit through it
			})
			if got != tc.want {
				t.Errorf("waited %s, want %s", got, tc.want)
			}
		})
	}
}
