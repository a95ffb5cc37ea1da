package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
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
	err = c.Upload(context.Background(), repo, "sha256:"+strings.Repeat("0", 64), 4, strings.NewReader("blob"), "")
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
