package registry

import (
	"context"
	"errors"
	"fmt"
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
	resp, err := g.inner.RoundTrip(req)
	if err == nil {
		if s, ok := req.Context().Value(retryAfterKey{}).(*retryAfterSink); ok {
			s.note(resp)
		}
	}
	return resp, err
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
