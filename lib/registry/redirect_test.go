package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/retry"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// storageServer plays presigned-URL storage (S3, a CDN) on its own
// 127.0.0.1 port: each signature it is handed works once (a second use is
// an expired URL, 403), it honours Range, and it notes every credential
// header it receives.
type storageServer struct {
	*httptest.Server
	objects map[string][]byte // path -> content
	cutOnce bool              // cut the first whole-object GET half-way
	stall   bool              // with cutOnce: go silent instead of cutting

	mu     sync.Mutex
	creds  []string // credential headers received
	used   map[string]bool
	ranges []string
	cut    bool
}

func newStorage(t *testing.T, objects map[string][]byte) *storageServer {
	s := &storageServer{objects: objects, used: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *storageServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		if v := r.Header.Get(h); v != "" {
			s.creds = append(s.creds, h+": "+v)
		}
	}
	sig := r.URL.Query().Get("sig")
	expired := sig == "" || s.used[sig]
	s.used[sig] = true
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut := s.cutOnce && !s.cut && r.Method == http.MethodGet && r.Header.Get("Range") == ""
	s.cut = s.cut || cut
	s.mu.Unlock()
	body, ok := s.objects[r.URL.Path]
	switch {
	case expired:
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", http.StatusForbidden)
	case !ok:
		http.NotFound(w, r)
	case cut:
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		if s.stall {
			<-r.Context().Done() // silent until the client gives up
			return
		}
		panic(http.ErrAbortHandler) // the connection drops mid-body
	default:
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}
}

// redirectingRegistry wants Basic auth u:p and answers blob and manifest
// reads with a redirect to a freshly signed storage URL, optionally first
// through a relative redirect to its own /cdn/ path.
type redirectingRegistry struct {
	*httptest.Server
	storage  *storageServer
	status   int  // of the redirect to storage
	relative bool // first hop: a relative Location on the registry itself

	mu        sync.Mutex
	n         int // signatures handed out
	reads     int // reads of /v2/ns/app/... (not counting hops)
	noCredHop int // requests on /cdn/ without credentials
}

func newRedirectingRegistry(t *testing.T, storage *storageServer, status int, relative bool) *redirectingRegistry {
	g := &redirectingRegistry{storage: storage, status: status, relative: relative}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *redirectingRegistry) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
		if strings.HasPrefix(r.URL.Path, "/cdn/") {
			g.mu.Lock()
			g.noCredHop++
			g.mu.Unlock()
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/v2/":
	case strings.HasPrefix(r.URL.Path, "/v2/ns/app/"):
		g.mu.Lock()
		g.reads++
		g.mu.Unlock()
		rest := strings.TrimPrefix(r.URL.Path, "/v2/ns/app/")
		if g.relative {
			w.Header().Set("Location", "/cdn/"+rest)
			w.WriteHeader(http.StatusFound)
			return
		}
		g.toStorage(w, rest)
	case strings.HasPrefix(r.URL.Path, "/cdn/"):
		g.toStorage(w, strings.TrimPrefix(r.URL.Path, "/cdn/"))
	default:
		http.NotFound(w, r)
	}
}

func (g *redirectingRegistry) toStorage(w http.ResponseWriter, rest string) {
	g.mu.Lock()
	g.n++
	sig := g.n
	g.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("%s/store/%s?sig=%d&X-Amz-Expires=1200", g.storage.URL, rest, sig))
	w.WriteHeader(g.status)
}

func fastRetry() retry.Policy {
	return retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond}
}

// TestRedirectToStorage: a registry that redirects blob and manifest reads
// to storage on another host:port (quay.io, registry.redhat.io, S3-backed
// registries do) serves them; the content verifies against its digest, and
// the storage never sees the registry's credentials. Before redirects were
// followed, every read failed ("307 Temporary Redirect").
func TestRedirectToStorage(t *testing.T) {
	blob := bytes.Repeat([]byte("layer "), 50000)
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	bd, md := sha(blob), sha(man)
	tests := []struct {
		name     string
		status   int
		relative bool
		read     string // blob, head, manifest
	}{
		{"301 blob", http.StatusMovedPermanently, false, "blob"},
		{"302 blob", http.StatusFound, false, "blob"},
		{"303 blob", http.StatusSeeOther, false, "blob"},
		{"307 blob", http.StatusTemporaryRedirect, false, "blob"},
		{"308 blob", http.StatusPermanentRedirect, false, "blob"},
		{"relative hop on the registry, then 307 blob", http.StatusTemporaryRedirect, true, "blob"},
		{"307 blob HEAD", http.StatusTemporaryRedirect, false, "head"},
		{"307 manifest", http.StatusTemporaryRedirect, false, "manifest"},
		{"relative hop on the registry, then 302 manifest", http.StatusFound, true, "manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStorage(t, map[string][]byte{"/store/blobs/" + bd: blob, "/store/manifests/" + md: man})
			reg := newRedirectingRegistry(t, st, tc.status, tc.relative)
			c := New(Options{Base: http.DefaultTransport, Keychain: staticKeychain{"u", "p"}, Retry: fastRetry()})
			repo, err := c.Repository(strings.TrimPrefix(reg.URL, "http://") + "/ns/app")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			switch tc.read {
			case "blob":
				rc, size, err := c.Blob(ctx, repo, bd)
				if err != nil {
					t.Fatalf("Blob: %v", err)
				}
				got, err := io.ReadAll(rc) // fails at EOF unless the digest verifies
				rc.Close()
				if err != nil || size != int64(len(blob)) || sha(got) != bd {
					t.Fatalf("read %d of %d bytes (size %d), digest %s, err %v; want %s", len(got), len(blob), size, sha(got), err, bd)
				}
			case "head":
				ok, err := c.HasBlob(ctx, repo, bd, false)
				if err != nil || !ok {
					t.Fatalf("HasBlob: %v, %v; want true", ok, err)
				}
			case "manifest":
				got, mt, dg, err := c.Manifest(ctx, repo, md)
				if err != nil || dg != md || !bytes.Equal(got, man) || mt != "application/vnd.oci.image.manifest.v1+json" {
					t.Fatalf("Manifest: %d bytes, %q, %s, %v; want %s", len(got), mt, dg, err, md)
				}
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.creds) > 0 {
				t.Errorf("storage on another host received credentials: %q", st.creds)
			}
			if len(st.used) != 1 {
				t.Errorf("storage asked with %d signatures, want 1", len(st.used))
			}
			if reg.noCredHop > 0 {
				t.Errorf("the relative hop on the registry's own host went without its credentials %d times", reg.noCredHop)
			}
		})
	}
}

// TestRedirectResume: a blob download cut half-way (or stalled past
// --idle-timeout) after a redirect resumes from the registry, which hands
// out a fresh storage URL, with a Range for the rest; resuming against the
// storage URL itself would reuse an expired signature (403 here, as S3
// answers).
func TestRedirectResume(t *testing.T) {
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "cut", true: "stalled"}[stall], func(t *testing.T) {
			testRedirectResume(t, stall)
		})
	}
}

func testRedirectResume(t *testing.T, stall bool) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	bd := sha(blob)
	st := newStorage(t, map[string][]byte{"/store/blobs/" + bd: blob})
	st.cutOnce, st.stall = true, stall
	reg := newRedirectingRegistry(t, st, http.StatusTemporaryRedirect, false)
	var stalls atomic.Int64
	opts := Options{Base: http.DefaultTransport, Keychain: staticKeychain{"u", "p"}, Retry: fastRetry()}
	if stall {
		opts.IdleTimeout, opts.OnStall = time.Second, func() { stalls.Add(1) }
	}
	c := New(opts)
	repo, err := c.Repository(strings.TrimPrefix(reg.URL, "http://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Blob(context.Background(), repo, bd)
	if err != nil {
		t.Fatalf("Blob: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || sha(got) != bd {
		t.Fatalf("read %d of %d bytes, err %v", len(got), len(blob), err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if !st.cut {
		t.Fatal("the download was never cut: the test tests nothing")
	}
	if reg.reads != 2 {
		t.Errorf("the registry was asked %d times, want 2 (the resume restarts the redirect chain)", reg.reads)
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", len(blob)/2)}; fmt.Sprint(st.ranges) != fmt.Sprint(want) {
		t.Errorf("storage saw Range %q, want %q", st.ranges, want)
	}
	if len(st.creds) > 0 {
		t.Errorf("storage received credentials: %q", st.creds)
	}
	if want := map[bool]int64{false: 0, true: 1}[stall]; stalls.Load() != want {
		t.Errorf("%d stalls reported, want %d", stalls.Load(), want)
	}
}

// TestRedirectLoop: a registry whose redirects never end fails the read
// with ErrTooManyRedirects after 10 hops, not retried, instead of looping.
func TestRedirectLoop(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		mu.Lock()
		requests++
		mu.Unlock()
		// /v2/ns/app/blobs/D -> /loop/a -> /loop/b -> /loop/a ...
		next := "/loop/a"
		if r.URL.Path == next {
			next = "b" // relative to /loop/a
		}
		w.Header().Set("Location", next)
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	c := New(Options{Base: http.DefaultTransport, Retry: fastRetry()})
	repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Blob(context.Background(), repo, "sha256:"+strings.Repeat("0", 64))
	if !errors.Is(err, ErrTooManyRedirects) || !strings.Contains(err.Error(), "redirect loop") {
		t.Fatalf("Blob: %v, want ErrTooManyRedirects naming a redirect loop", err)
	}
	t.Logf("error: %v", err)
	mu.Lock()
	defer mu.Unlock()
	if requests != 1+maxRedirects {
		t.Errorf("%d requests, want %d (the first and %d hops, not retried)", requests, 1+maxRedirects, maxRedirects)
	}
}

// TestRedirectGuard: with TLS verification on, an HTTPS registry's
// redirect to plain HTTP on a non-loopback host is refused by the guard
// before anything is sent; an HTTPS one is followed without credentials.
// Nothing leaves the process: the innermost transport is a fake.
func TestRedirectGuard(t *testing.T) {
	blob := []byte("blob content")
	bd := sha(blob)
	tests := []struct {
		name, to string
		refused  bool
	}{
		{"https storage", "https://cdn.example.com/b?sig=1", false},
		{"plain http storage", "http://cdn.example.com/b?sig=1", true},
		{"plain http on the registry's host", "http://registry.example.com/v2/ns/app/blobs/" + bd, true},
		{"scheme-relative Location", "//cdn.example.com/b", false}, // stays https
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []string
			var leaked []string
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				sent = append(sent, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
				mu.Unlock()
				resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}
				switch {
				case req.URL.Host == "registry.example.com" && req.Header.Get("Authorization") == "":
					resp.StatusCode = http.StatusUnauthorized
					resp.Header.Set("WWW-Authenticate", `Basic realm="test"`)
				case req.URL.Host == "registry.example.com" && req.URL.Path == "/v2/":
				case req.URL.Host == "registry.example.com":
					resp.StatusCode = http.StatusTemporaryRedirect
					resp.Header.Set("Location", tc.to)
				case req.URL.Host == "cdn.example.com":
					if a := req.Header.Get("Authorization"); a != "" {
						mu.Lock()
						leaked = append(leaked, a)
						mu.Unlock()
					}
					resp.Body = io.NopCloser(bytes.NewReader(blob))
					resp.ContentLength = int64(len(blob))
				default:
					return nil, errors.New("test transport: unexpected host")
				}
				return resp, nil
			})
			c := New(Options{Base: base, TLSVerify: true, Keychain: staticKeychain{"u", "p"}, Retry: fastRetry()})
			repo, err := c.Repository("registry.example.com/ns/app")
			if err != nil {
				t.Fatal(err)
			}
			rc, _, err := c.Blob(context.Background(), repo, bd)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.refused {
				if !errors.Is(err, ErrPlainHTTP) {
					t.Fatalf("Blob: %v, want ErrPlainHTTP", err)
				}
				t.Logf("error: %v", err)
				for _, u := range sent {
					if strings.HasPrefix(u, "http://") {
						t.Errorf("sent over plain HTTP: %s", u)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Blob: %v", err)
			}
			if len(leaked) > 0 {
				t.Errorf("cdn.example.com received Authorization %q", leaked)
			}
		})
	}
}

// TestRedirectStorageRefuses: storage that refuses a presigned URL is
// reported with the registry URL that sent the client there, and without
// the credential fix (no credentials went to the storage).
func TestRedirectStorageRefuses(t *testing.T) {
	st := newStorage(t, nil)
	reg := newRedirectingRegistry(t, st, http.StatusTemporaryRedirect, false)
	st.used["1"] = true // the first signature handed out is expired already
	c := New(Options{Base: http.DefaultTransport, Keychain: staticKeychain{"u", "p"}, Retry: fastRetry()})
	repo, err := c.Repository(strings.TrimPrefix(reg.URL, "http://") + "/ns/app")
	if err != nil {
		t.Fatal(err)
	}
	d := "sha256:" + strings.Repeat("0", 64)
	_, _, err = c.Blob(context.Background(), repo, d)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("Blob: %v, want a 403 HTTPError", err)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if !strings.Contains(msg, "redirected from "+reg.URL+"/v2/ns/app/blobs/"+d) || strings.Contains(msg, "fix:") || strings.Contains(msg, "sig=") {
		t.Errorf("error %q: want it to name the registry URL that redirected, no credential fix, no signature", msg)
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://r.example.com/v2/x", "https://r.example.com/cdn/y?sig=1", true},
		{"https://r.example.com/v2/x", "https://R.example.com:443/y", true},
		{"http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5000/y", true},
		{"http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5001/y", false},
		{"https://r.example.com/v2/x", "http://r.example.com/y", false},
		{"https://r.example.com/v2/x", "https://r.example.com:8443/y", false},
		{"https://r.example.com/v2/x", "https://cdn.r.example.com/y", false},
		{"https://r.example.com/v2/x", "https://r.example.com.evil.test/y", false},
	}
	for _, tc := range tests {
		if got := sameOrigin(tc.a, tc.b); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
