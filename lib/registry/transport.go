package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrPlainHTTP is returned, without anything being sent, for a plain HTTP
// request to a registry that is not on loopback while TLS verification is
// on: credentials and content would cross the network in clear.
var ErrPlainHTTP = errors.New("plain HTTP refused")

// PlainHTTPError names the host a plain HTTP request was refused for.
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s refused: TLS verification is on and the host is not loopback", e.Host)
}

func (e *PlainHTTPError) Is(target error) bool { return target == ErrPlainHTTP }

// guard is the innermost layer of every client transport, under
// go-containerregistry's handshake (which picks plain HTTP for private
// addresses and *.localhost, and races HTTPS against HTTP to pick) and under
// our own requests, upload Locations and redirects alike: no request path
// reaches the network without passing it.
type guard struct {
	inner  http.RoundTripper
	verify bool
	idle   time.Duration // 0: no idle timeout
	// onStall, when set, hears of each request that hit the idle timeout.
	onStall func()

	mu    sync.Mutex
	plain map[string]bool // hosts registries.conf marks insecure
}

func newGuard(inner http.RoundTripper, verify bool) *guard {
	return &guard{inner: inner, verify: verify, plain: map[string]bool{}}
}

// allowPlain lets plain HTTP reach host (registries.conf "insecure = true").
func (g *guard) allowPlain(host string) {
	g.mu.Lock()
	g.plain[host] = true
	g.mu.Unlock()
}

// plainOK reports whether plain HTTP may be used for host ("name:port").
func (g *guard) plainOK(host string) bool {
	if !g.verify || loopback(host) {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.plain[host]
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Scheme, "https") && !g.plainOK(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	if g.idle <= 0 {
		resp, err := g.inner.RoundTrip(req)
		g.noteRetryAfter(req, resp)
		return resp, err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{g: g, ctx: ctx, cancel: cancel, url: stripQuery(req.URL)}
	w.timer = time.AfterFunc(g.idle, func() { cancel(errIdle) })
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		// A body is timed while the registry does not take what was
		// handed over (its source has its own watchdog), not after it was
		// all sent: committing a large blob may take a while.
		w.timer.Stop()
		out.Body = &sendWatch{w: w, body: req.Body, left: req.ContentLength}
	}
	resp, err := g.inner.RoundTrip(out)
	w.timer.Stop()
	if err != nil {
		err = w.check(err)
		cancel(nil)
		return nil, err
	}
	g.noteRetryAfter(req, resp)
	w.body = resp.Body
	resp.Body = w
	return resp, nil
}

func (g *guard) noteRetryAfter(req *http.Request, resp *http.Response) {
	if resp == nil {
		return
	}
	if s, ok := req.Context().Value(retryAfterKey{}).(*retryAfterSink); ok {
		s.note(resp)
	}
}

// ErrStalled: a registry sent nothing for the idle timeout, in the middle
// of a response or before answering. It is transient: the request is
// retried (a download resumes where it stopped).
var ErrStalled = errors.New("registry stalled")

// StallError names the request that stalled.
type StallError struct {
	URL  string
	Idle time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s: no data for %s (--idle-timeout)", e.URL, e.Idle)
}
func (e *StallError) Is(target error) bool { return target == ErrStalled }
func (e *StallError) Timeout() bool        { return true }
func (e *StallError) Temporary() bool      { return true }

var errIdle = errors.New("idle timeout")

// watchdog cancels a request that receives nothing for the idle timeout:
// the timer runs only while a Read waits (a slow consumer is not a stalled
// registry) and while a bodyless request waits for its answer.
type watchdog struct {
	g      *guard
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	url    string
	body   io.ReadCloser
	once   sync.Once
}

func (w *watchdog) Read(p []byte) (int, error) {
	w.timer.Reset(w.g.idle)
	n, err := w.body.Read(p)
	w.timer.Stop()
	if err != nil && err != io.EOF {
		err = w.check(err)
	}
	return n, err
}

func (w *watchdog) Close() error {
	w.timer.Stop()
	err := w.body.Close()
	w.cancel(nil)
	return err
}

// sendWatch runs the watchdog's timer from the moment a chunk of a request
// body is handed to the transport until the transport asks for the next:
// a registry that stops reading leaves the transport blocked in between.
type sendWatch struct {
	w    *watchdog
	body io.ReadCloser
	left int64 // bytes still to send; <0: unknown
}

func (s *sendWatch) Read(p []byte) (int, error) {
	s.w.timer.Stop()
	n, err := s.body.Read(p)
	if s.left >= 0 {
		s.left -= int64(n)
	}
	if err == nil && s.left != 0 {
		s.w.timer.Reset(s.w.g.idle)
	}
	return n, err
}

func (s *sendWatch) Close() error { return s.body.Close() }

// check turns the error of a request the watchdog cancelled into a
// StallError.
func (w *watchdog) check(err error) error {
	if !errors.Is(context.Cause(w.ctx), errIdle) {
		return err
	}
	w.once.Do(func() {
		if w.g.onStall != nil {
			w.g.onStall()
		}
	})
	return &StallError{URL: w.url, Idle: w.g.idle}
}

// retryAfterSink hears the Retry-After of answers to requests we do not
// read ourselves: go-containerregistry's ping and token requests turn them
// into errors that drop the header.
type retryAfterSink struct {
	mu sync.Mutex
	d  time.Duration
}

type retryAfterKey struct{}

func withRetryAfterSink(ctx context.Context) (context.Context, *retryAfterSink) {
	s := &retryAfterSink{}
	return context.WithValue(ctx, retryAfterKey{}, s), s
}

func (s *retryAfterSink) note(resp *http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return
	}
	if d := parseRetryAfter(resp.Header.Get("Retry-After")); d > 0 {
		s.mu.Lock()
		s.d = max(s.d, d)
		s.mu.Unlock()
	}
}

// hint wraps err with the wait the registry asked for, if any; retry.Policy
// honours it (capped by the policy).
func (s *retryAfterSink) hint(err error) error {
	s.mu.Lock()
	d := s.d
	s.mu.Unlock()
	if err == nil || d <= 0 {
		return err
	}
	return &waitHint{err: err, d: d}
}

type waitHint struct {
	err error
	d   time.Duration
}

func (w *waitHint) Error() string             { return w.err.Error() }
func (w *waitHint) Unwrap() error             { return w.err }
func (w *waitHint) RetryAfter() time.Duration { return w.d }

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(s string) time.Duration {
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		return time.Until(t)
	}
	return 0
}

// loopback: 127.0.0.0/8, ::1 or localhost, with or without a port.
func loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
