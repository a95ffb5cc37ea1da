package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// recordingRT records every request that reaches it and forwards only
// those for loopback, so a test never sends anything elsewhere.
type recordingRT struct {
	inner http.RoundTripper
	mu    sync.Mutex
	urls  []string
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
	r.mu.Unlock()
	if !loopback(req.URL.Host) {
		return nil, errors.New("test transport: not sent off loopback")
	}
	return r.inner.RoundTrip(req)
}

// TestF1CleartextCredentialsGuard: the guard sits under every request path,
// so an HTTPS registry that hands out a plain HTTP upload Location for a
// private address gets no blob sent there in clear.
func TestF1CleartextCredentialsGuard(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost:
			w.Header().Set("Location", "http://10.99.0.1:5000/upload/1")
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	inner := srv.Client().Transport
	rec := &recordingRT{inner: inner}
	c := New(Options{Base: rec, TLSVerify: true, Keychain: staticKeychain{"u", "p"}})
	repo, err := c.Repository(strings.TrimPrefix(srv.URL, "https://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Upload(context.Background(), repo, "sha256:"+strings.Repeat("0", 64), 4, func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("blob")), nil
	}, "")
	if !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("upload to a plain HTTP Location: %v, want ErrPlainHTTP", err)
	}
	for _, u := range rec.urls {
		if strings.HasPrefix(u, "http://") {
			t.Errorf("sent over plain HTTP: %s", u)
		}
	}
}

func TestGuardSchemes(t *testing.T) {
	tests := []struct {
		url    string
		verify bool
		sent   bool
	}{
		{"http://127.0.0.1:5000/v2/", true, true},
		{"http://127.1.2.3/v2/", true, true},
		{"http://[::1]:5000/v2/", true, true},
		{"http://localhost:5000/v2/", true, true},
		{"https://10.0.0.1/v2/", true, true},
		{"http://10.0.0.1:5000/v2/", true, false},
		{"http://172.16.0.1/v2/", true, false},
		{"http://192.168.1.1/v2/", true, false},
		{"http://registry.localhost:5000/v2/", true, false},
		{"http://example.com/v2/", true, false},
		{"http://10.0.0.1:5000/v2/", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			var sent bool
			g := newGuard(roundTripFunc(func(*http.Request) (*http.Response, error) {
				sent = true
				return nil, errors.New("stop")
			}), tc.verify)
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			_, err := g.RoundTrip(req)
			if sent != tc.sent || errors.Is(err, ErrPlainHTTP) == tc.sent {
				t.Errorf("sent %v (err %v), want sent %v", sent, err, tc.sent)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestF14RetryAfterOnHandshake: a registry that answers the handshake's
// ping or token request with 429/503 and Retry-After is asked again only
// after that wait (the backoff alone here is a millisecond); it used to be
// ignored there, though honoured on uploads.
func TestF14RetryAfterOnHandshake(t *testing.T) {
	tests := []struct {
		name   string
		path   string // the request answered "wait" once
		status int
	}{
		{"ping", "/v2/", http.StatusTooManyRequests},
		{"token", "/token", http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var times []time.Time
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path {
					mu.Lock()
					times = append(times, time.Now())
					first := len(times) == 1
					mu.Unlock()
					if first {
						w.Header().Set("Retry-After", "2")
						w.WriteHeader(tc.status)
						return
					}
				}
				switch r.URL.Path {
				case "/v2/":
					if tc.name == "token" && r.Header.Get("Authorization") == "" {
						w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="test"`)
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					w.WriteHeader(http.StatusOK)
				case "/token":
					fmt.Fprint(w, `{"token":"t"}`)
				default:
					w.WriteHeader(http.StatusNotFound)
				}
			}))
			defer srv.Close()
			c := New(Options{Base: http.DefaultTransport, Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 20 * time.Second}})
			repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/ns/app")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.HeadManifest(context.Background(), repo, "latest"); err != nil {
				t.Fatalf("HeadManifest after one wait: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(times) < 2 {
				t.Fatalf("%s asked %d times, want a retry", tc.path, len(times))
			}
			if gap := times[1].Sub(times[0]); gap < 2*time.Second {
				t.Errorf("asked again after %s, want at least the 2s of Retry-After", gap.Round(time.Millisecond))
			}
		})
	}
}

// TestF7StalledTransferBudget: a registry that always sends half a blob and
// goes silent makes the read fail, naming the stall, once the request's
// tries are spent (each try resumes where the last stopped); it used to
// wait forever.
func TestF7StalledTransferBudget(t *testing.T) {
	blob := strings.Repeat("x", 64<<10)
	release := make(chan struct{})
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
		w.WriteHeader(http.StatusOK) // Range ignored: the client skips
		io.WriteString(w, blob[:len(blob)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	var stalls int
	c := New(Options{Base: http.DefaultTransport, IdleTimeout: time.Second, OnStall: func() { stalls++ },
		Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}})
	repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Blob(context.Background(), repo, "sha256:"+strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("read: %v, want ErrStalled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 3 || ranges[0] != "" || ranges[1] != fmt.Sprintf("bytes=%d-", len(blob)/2) {
		t.Errorf("requests with Range %q, want 3: the first whole, then resuming at byte %d", ranges, len(blob)/2)
	}
	if stalls != 3 {
		t.Errorf("%d stalls reported, want 3", stalls)
	}
}

// TestF7StalledUpload: a registry that stops reading an upload half-way
// (its socket buffers full) makes the upload fail as stalled once its tries
// are spent, instead of blocking forever.
func TestF7StalledUpload(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	puts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "/v2/ns/app/blobs/uploads/1")
			w.WriteHeader(http.StatusAccepted)
		case http.MethodPut:
			mu.Lock()
			puts++
			mu.Unlock()
			io.CopyN(io.Discard, r.Body, 1<<20) // then reads no more
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	c := New(Options{Base: http.DefaultTransport, IdleTimeout: 300 * time.Millisecond,
		Retry: retry.Policy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}})
	repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20 // far more than loopback socket buffers hold
	_, err = c.Upload(context.Background(), repo, "sha256:"+strings.Repeat("0", 64), size, func() (io.ReadCloser, error) {
		return io.NopCloser(io.LimitReader(zeros{}, size)), nil
	}, "")
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("upload: %v, want ErrStalled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if puts != 2 {
		t.Errorf("%d PUTs, want 2 (--retries 2)", puts)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
