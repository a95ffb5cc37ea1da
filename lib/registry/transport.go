package registry

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
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
	return g.inner.RoundTrip(req)
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
