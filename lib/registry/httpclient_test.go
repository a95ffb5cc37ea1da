package registry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// hostileHTTP serves the misbehaving answers a download must survive or
// give up on in bounded time. Handlers end with the request, so the server
// closes promptly.
func hostileHTTP(t *testing.T, kind string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		try := n.Add(1)
		switch kind {
		case "silent": // accepts, never answers
			<-r.Context().Done()
		case "drip": // answers, then one byte a second
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			for {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Second):
				}
			}
		case "busy": // 503 with Retry-After once, then the content
			if try == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "content")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestN6HTTPClient: downloads beside the registry protocol have the
// registry requests' layers: a silent or dripping server is given up on
// after --retries tries of --idle-timeout each, naming the URL and the
// fix; a 503 is retried after its Retry-After; plain HTTP to a host off
// loopback is refused before anything is sent.
func TestN6HTTPClient(t *testing.T) {
	pol := retry.Policy{Attempts: 2, Base: time.Millisecond, Max: 20 * time.Second}
	for _, kind := range []string{"silent", "drip"} {
		t.Run(kind, func(t *testing.T) {
			srv, n := hostileHTTP(t, kind)
			hc := New(Options{Base: http.DefaultTransport, IdleTimeout: 300 * time.Millisecond, Retry: pol}).HTTPClient()
			start := time.Now()
			resp, err := hc.Get(srv.URL + "/index.yaml")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("gave up after %s", took)
			}
			if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), srv.URL+"/index.yaml") || !strings.Contains(err.Error(), "fix: ") {
				t.Errorf("err = %v, want a stall naming the URL and the fix", err)
			}
			if got := n.Load(); got != 2 {
				t.Errorf("%d requests, want 2 (--retries)", got)
			}
		})
	}
	t.Run("503 with Retry-After", func(t *testing.T) {
		srv, n := hostileHTTP(t, "busy")
		hc := New(Options{Base: http.DefaultTransport, Retry: pol}).HTTPClient()
		start := time.Now()
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "content" || n.Load() != 2 {
			t.Errorf("read %q in %d requests", b, n.Load())
		}
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("retried after %s, before the Retry-After of 1s", took)
		}
	})
	t.Run("plain HTTP off loopback", func(t *testing.T) {
		rec := &recordingRT{inner: http.DefaultTransport}
		hc := New(Options{Base: rec, TLSVerify: true, Retry: pol}).HTTPClient()
		_, err := hc.Get("http://charts.localhost:8080/index.yaml")
		if !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "fix: ") {
			t.Errorf("err = %v, want ErrPlainHTTP with the fix", err)
		}
		if len(rec.urls) > 0 {
			t.Errorf("sent %v", rec.urls)
		}
	})
}
