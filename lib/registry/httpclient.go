package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// HTTPClient is the one client for the plain HTTP(S) downloads ocm makes
// beside the registry protocol: Helm repositories (index.yaml, charts),
// release signature stores, the update service and its graph data. It has
// the layers of every registry request, set by the same flags: the guard
// (plain HTTP only to loopback unless TLS verification is off), the
// --idle-timeout watchdog, and the --retries budget with Retry-After. A read
// cut or stalled mid-body resumes (a Range request) on the budget of the
// request that opened it. Every redirect hop goes through all of these.
// Errors name the URL and the fix.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: &fetchTransport{c: c}}
}

type fetchTransport struct{ c *Client }

func (t *fetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || (req.Body != nil && req.Body != http.NoBody) {
		// Only reads are sent again; a body would have to be replayed.
		resp, err := t.c.base.RoundTrip(req)
		if err != nil {
			return nil, explainFetch(req.URL.Host, t.c.certs, err)
		}
		return resp, nil
	}
	b := t.c.opts.Retry.Budget()
	resp, err := t.try(req, b, nil, 0)
	if err != nil {
		return nil, err
	}
	if req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		resp.Body = &resumingBody{t: t, req: req, budget: b, body: resp.Body, size: resp.ContentLength}
	}
	return resp, nil
}

// try sends req on budget b, after the error that ended the last try (nil:
// none), asking from byte off on. Transient answers (408, 429, 5xx) are
// retried like transient errors, after their Retry-After; the last one is
// returned as an error.
func (t *fetchTransport) try(req *http.Request, b *retry.Budget, after error, off int64) (*http.Response, error) {
	var resp *http.Response
	err := b.Do(req.Context(), after, func() error {
		r := req.Clone(req.Context())
		if off > 0 {
			r.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		var err error
		if resp, err = t.c.base.RoundTrip(r); err != nil {
			return err
		}
		if transientStatus(resp.StatusCode) {
			defer resp.Body.Close()
			return readError(r, resp)
		}
		if off > 0 {
			if err := skipTo(resp, off); err != nil {
				resp.Body.Close()
				return err
			}
		}
		return nil
	}, t.c.logRetry(req.Method+" "+stripQuery(req.URL)))
	if err != nil {
		return nil, explainFetch(req.URL.Host, t.c.certs, err)
	}
	return resp, nil
}

func transientStatus(code int) bool {
	return (&HTTPError{StatusCode: code}).Temporary()
}

// skipTo makes resp, the answer to a resumed read, start at byte off: a
// 206 must say so, a 200 (Range ignored) has what was read skipped.
func skipTo(resp *http.Response, off int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", off)) {
			return fmt.Errorf("resuming %s at byte %d: answered range %q", stripQuery(resp.Request.URL), off, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			return fmt.Errorf("resuming %s: %w", stripQuery(resp.Request.URL), err)
		}
	default:
		return fmt.Errorf("resuming %s at byte %d: %s", stripQuery(resp.Request.URL), off, resp.Status)
	}
	return nil
}

// resumingBody is the body of a download that asks again from where it
// stopped when the stream is cut or stalls, spending the tries of the
// request that opened it.
type resumingBody struct {
	t      *fetchTransport
	req    *http.Request
	budget *retry.Budget
	body   io.ReadCloser
	off    int64
	size   int64 // -1: unknown
	err    error // sticky: the stream failed for good
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for r.err == nil {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF && r.size >= 0 && r.off < r.size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		r.body.Close()
		if errors.Is(err, context.Canceled) || r.req.Context().Err() != nil {
			r.err = err
		} else if resp, rerr := r.t.try(r.req, r.budget, err, r.off); rerr != nil {
			r.err = fmt.Errorf("reading %s at byte %d: %w", stripQuery(r.req.URL), r.off, rerr)
		} else {
			r.body = resp.Body
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

func (r *resumingBody) Close() error { return r.body.Close() }

// explainFetch gives a download's error its fix, by type. The URL is
// not repeated: net/http's *url.Error, or the body's read error, names it.
func explainFetch(host string, certs *certStore, err error) error {
	var (
		he    *HTTPError
		stall *StallError
		pe    *PlainHTTPError
		tries string
		ex    *retry.ExhaustedError
	)
	if errors.As(err, &ex) {
		tries = fmt.Sprintf(" (failed after %d tries)", ex.Tries)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &stall):
		return &explained{fmt.Sprintf("no data for %s (--idle-timeout)%s; fix: check that the server answers, or raise --idle-timeout", stall.Idle, tries), err}
	case errors.As(err, &pe):
		return &explained{fmt.Sprintf("plain HTTP to %s refused, TLS verification is on and the host is not loopback; fix: use an https:// URL, or pass --src-tls-verify=false if the server speaks only plain HTTP", pe.Host), err}
	case anyError(err, isCertDirError), untrusted(err), tlsRefused(err):
		return &explained{explainTLS(host, certs, err), err}
	case unreachable(err):
		return &explained{fmt.Sprintf("unreachable (%s)%s; fix: check the host, port and network", firstLine(err.Error()), tries), err}
	case errors.As(err, &he) && he.Temporary():
		return &explained{fmt.Sprintf("%d %s%s; fix: the server is failing, try again later or raise --retries", he.StatusCode, http.StatusText(he.StatusCode), tries), err}
	}
	return &explained{fmt.Sprintf("%v; fix: check the URL and the network", err), err}
}
