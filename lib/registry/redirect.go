package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects bounds a redirect chain, as net/http's Client does.
const maxRedirects = 10

// ErrTooManyRedirects: a registry's redirects did not end within
// maxRedirects hops (a loop, most likely).
var ErrTooManyRedirects = errors.New("too many redirects")

// RedirectError names the request whose redirects did not end, or whose
// redirect could not be followed.
type RedirectError struct {
	URL    string // the registry URL asked, without query
	Hops   int
	Reason string // set when the chain ended on a bad redirect, not its length
}

func (e *RedirectError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s: %s after %d redirects; fix: the registry or its storage redirect setup is broken", e.URL, e.Reason, e.Hops)
	}
	return fmt.Sprintf("%s: still redirected after %d hops (a redirect loop); fix: check the registry's storage redirect setup", e.URL, e.Hops)
}

func (e *RedirectError) Is(target error) bool {
	return e.Reason == "" && target == ErrTooManyRedirects
}

// redirected reports whether resp sends a read elsewhere. Only GET and
// HEAD are followed: they have no body to send again, and a write
// redirected would be a registry bug better reported than guessed at.
func redirected(req *http.Request, resp *http.Response) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// credentialHeaders never leave the registry's own origin.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// follow follows the redirects that resp (the answer to first, sent on rt)
// starts, and returns the final answer and the request it answers. A hop
// to the registry's own scheme and host goes through rt, which adds the
// registry's credentials; a hop anywhere else (a presigned storage URL)
// goes through the bare guarded transport, so no credential or token
// reaches it. Every hop passes the guard (plain HTTP refused off loopback
// when verifying) and its idle timeout. A failed hop is returned as is:
// the caller's retry starts again from the registry, which hands out a
// fresh storage URL.
func (c *Client) follow(ctx context.Context, rt http.RoundTripper, first *http.Request, resp *http.Response) (*http.Response, *http.Request, error) {
	req := first
	for hops := 0; redirected(req, resp); hops++ {
		loc := resp.Header.Get("Location")
		status := resp.StatusCode
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		bad := func(reason string) error {
			return &RedirectError{URL: stripQuery(first.URL), Hops: hops, Reason: reason}
		}
		if hops == maxRedirects {
			return nil, req, &RedirectError{URL: stripQuery(first.URL), Hops: hops}
		}
		if loc == "" {
			return nil, req, bad(fmt.Sprintf("%d without a Location header", status))
		}
		// Relative Locations resolve against the request they answer.
		u, err := req.URL.Parse(loc)
		if err != nil {
			return nil, req, bad(fmt.Sprintf("bad Location %q: %v", firstLine(loc), err))
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, req, bad(fmt.Sprintf("Location with scheme %q", u.Scheme))
		}
		u.Fragment = ""
		next, err := http.NewRequestWithContext(ctx, req.Method, u.String(), nil)
		if err != nil {
			return nil, req, bad(err.Error())
		}
		// The caller's headers (Accept, Range) go along; rt may have set
		// credentials on first's header map, and they must not.
		next.Header = first.Header.Clone()
		for _, h := range credentialHeaders {
			next.Header.Del(h)
		}
		via := c.base
		if sameOrigin(first.URL.String(), u.String()) {
			via = rt
		}
		if resp, err = via.RoundTrip(next); err != nil {
			return nil, next, fmt.Errorf("%s %s, redirected from %s: %w", next.Method, stripQuery(u), stripQuery(first.URL), explain(u.Host, c.certs, err))
		}
		req = next
	}
	return resp, req, nil
}

// sameOrigin reports whether two URLs have the same scheme, host and port
// (a default port written or not): credentials go only there. Stricter
// than net/http's Client, which compares host names only: another port
// may be another service, and an https-to-http hop would send them in
// clear.
func sameOrigin(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && canonicalHost(ua) == canonicalHost(ub)
}

func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
