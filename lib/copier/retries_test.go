package copier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/retry"
)

// countingRegistry is an in-memory registry behind a handler that counts
// every request it is sent, by method and path, and fails those fail
// selects: with a 503, or by resetting the connection.
type countingRegistry struct {
	Host string

	mu     sync.Mutex
	counts map[string]int // every request
	failed map[string]int // those failed on purpose
	fail   func(*http.Request) bool
	reset  bool // fail by resetting the connection instead of a 503
}

func startCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	cr := &countingRegistry{counts: map[string]int{}, failed: map[string]int{}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr.mu.Lock()
		key := requestKey(r)
		cr.counts[key]++
		fail := cr.fail != nil && cr.fail(r)
		if fail {
			cr.failed[key]++
		}
		reset := cr.reset
		cr.mu.Unlock()
		if !fail {
			reg.ServeHTTP(w, r)
			return
		}
		if !reset {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.(*net.TCPConn).SetLinger(0) // close sends RST
		conn.Close()
	}))
	t.Cleanup(s.Close)
	cr.Host = strings.TrimPrefix(s.URL, "http://")
	return cr
}

// requestKey names a request: method and path; an upload's PUT by the
// digest it commits (its path names a session, new on each try), a mount
// by the blob it asks for.
func requestKey(r *http.Request) string {
	if d := r.URL.Query().Get("digest"); r.Method == http.MethodPut && d != "" {
		return "PUT upload " + d
	}
	if m := r.URL.Query().Get("mount"); m != "" {
		return r.Method + " " + r.URL.Path + " mount " + m
	}
	return r.Method + " " + r.URL.Path
}

// start resets the counts and sets what fails from now on.
func (cr *countingRegistry) start(fail func(*http.Request) bool, reset bool) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.counts, cr.failed, cr.fail, cr.reset = map[string]int{}, map[string]int{}, fail, reset
}

// snapshot copies the counts of every request and of the failed ones.
func (cr *countingRegistry) snapshot() (all, failed map[string]int) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return maps.Clone(cr.counts), maps.Clone(cr.failed)
}

// opensUpload: the key of a POST opening an upload session (no mount).
func opensUpload(key string) bool {
	return strings.HasSuffix(key, "POST /v2/mirror/multi/blobs/uploads/")
}

// uploads counts the upload sessions opened and the uploads (PUT) tried.
func uploads(counts map[string]int) (opened, puts int) {
	for k, n := range counts {
		switch {
		case opensUpload(k):
			opened += n
		case strings.HasPrefix(k, "PUT upload "):
			puts += n
		}
	}
	return opened, puts
}

func isBlobGET(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}
func isManifestGET(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
}
func isBlobPUT(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")
}
func isManifestPUT(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

// sentRT counts the requests the registry client sends (its tries), by
// host and requestKey, below its retries and above net/http.
type sentRT struct {
	mu     sync.Mutex
	counts map[string]int
	inner  http.RoundTripper
}

func (s *sentRT) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.counts[r.URL.Scheme+"://"+r.URL.Host+" "+requestKey(r)]++
	s.mu.Unlock()
	return s.inner.RoundTrip(r)
}

// TestRetriesOnlyInTheClient: a request that keeps failing (503 or a reset
// connection) is tried exactly --retries times, whatever it is (manifest or
// blob, read or write) and however deep in an index it sits: the copy
// above the registry client retries nothing, and its error says how many
// tries were made. A clean copy sends each blob once.
func TestRetriesOnlyInTheClient(t *testing.T) {
	const tries = 3
	src := startCountingRegistry(t)
	// An index of 2 images of 3 layers each: 2 child manifests, 8 blobs.
	idx, err := random.Index(512, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(src.Host + "/team/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	digest, _ := idx.Digest()
	blobs := indexBlobs(t, idx)

	// copyTo copies the index into a new mirror registry with a new
	// client, and returns the mirror and what the client sent.
	copyTo := func(t *testing.T, fail func(*http.Request) bool, failSrc, reset bool) (*countingRegistry, map[string]int, error) {
		dst := startCountingRegistry(t)
		src.start(nil, false)
		if failSrc {
			src.start(fail, reset)
		} else {
			dst.start(fail, reset)
		}
		sent := &sentRT{counts: map[string]int{}, inner: &http.Transport{}}
		c := registry.New(registry.Options{TLSVerify: true, Base: sent, Retry: retry.Policy{Attempts: tries, Base: time.Millisecond, Max: 2 * time.Millisecond}})
		srcRepo, _ := c.Repository(src.Host + "/team/multi")
		dstRepo, _ := c.Repository(dst.Host + "/mirror/multi")
		// One blob at a time: the first failure ends the copy before
		// another blob starts.
		_, err := New(Options{BlobWorkers: 1}).Copy(context.Background(), &registry.Repo{Client: c, Name: srcRepo}, digest.String(), &registry.Repo{Client: c, Name: dstRepo}, "1")
		sent.mu.Lock()
		defer sent.mu.Unlock()
		return dst, maps.Clone(sent.counts), err
	}

	t.Run("clean copy moves each blob once", func(t *testing.T) {
		dst, _, err := copyTo(t, nil, false, false)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := src.snapshot()
		put, _ := dst.snapshot()
		for _, b := range blobs {
			if n := got["GET /v2/team/multi/blobs/"+b]; n != 1 {
				t.Errorf("blob %s read %d times, want 1", b, n)
			}
			if n := put["PUT upload "+b]; n != 1 {
				t.Errorf("blob %s uploaded %d times, want 1", b, n)
			}
		}
		if opened, puts := uploads(put); opened != len(blobs) || puts != len(blobs) {
			t.Errorf("%d upload sessions opened, %d uploads, want %d each", opened, puts, len(blobs))
		}
		t.Logf("clean copy of %d blobs: source %v; mirror %v", len(blobs), summarize(got), summarize(put))
	})

	cases := []struct {
		name    string
		failSrc bool
		fail    func(*http.Request) bool
	}{
		{"manifest GET", true, isManifestGET},
		{"blob GET", true, isBlobGET},
		{"blob PUT", false, isBlobPUT},
		{"manifest PUT", false, isManifestPUT},
		// The index is read, its children fail: deeper requests get no
		// more tries than the first.
		{"child manifest GET", true, func(r *http.Request) bool {
			return isManifestGET(r) && !strings.HasSuffix(r.URL.Path, "/"+digest.String()) && !strings.HasSuffix(r.URL.Path, "/1")
		}},
	}
	for _, tc := range cases {
		for _, reset := range []bool{false, true} {
			how := "503"
			if reset {
				how = "reset"
			}
			t.Run(tc.name+" "+how, func(t *testing.T) {
				dst, sent, err := copyTo(t, tc.fail, tc.failSrc, reset)
				if err == nil {
					t.Fatal("copy succeeded through a request that always fails")
				}
				var x *retry.ExhaustedError
				if !errors.As(err, &x) || x.Tries != tries || !strings.Contains(err.Error(), fmt.Sprintf("failed after %d tries", tries)) {
					t.Errorf("error does not say it failed after %d tries: %v", tries, err)
				}
				// What ocm tried: at most --retries times each, and
				// exactly that for the request that failed the copy.
				exact := 0
				for k, n := range sent {
					if opensUpload(k) {
						continue // checked below
					}
					if n > tries {
						t.Errorf("%s tried %d times, want at most %d", k, n, tries)
					}
					if n == tries {
						exact++
					}
				}
				if exact == 0 {
					t.Errorf("no request was tried %d times", tries)
				}
				// What the registries saw: the same, except that on a
				// reset net/http sends an idempotent request once more
				// when the connection it reused died before answering.
				most := tries
				if reset {
					most = 2 * tries
				}
				srcSeen, srcFailed := src.snapshot()
				dstSeen, dstFailed := dst.snapshot()
				for _, m := range []map[string]int{srcSeen, dstSeen} {
					for k, n := range m {
						if opensUpload(k) {
							continue
						}
						if n > most {
							t.Errorf("%s seen %d times, want at most %d", k, n, most)
						}
					}
				}
				// Opening an upload session names no blob: one is
				// opened for each try of an upload, no more (and one
				// more when the copy ended between the two requests).
				if opened, puts := uploads(dstSeen); opened > puts+1 {
					t.Errorf("%d upload sessions opened for %d uploads tried", opened, puts)
				}
				if len(srcFailed)+len(dstFailed) == 0 {
					t.Fatal("no fault was injected: the test proves nothing")
				}
				t.Logf("client tries: %s; source saw %s; mirror saw %s; failed on purpose: %v %v", summarize(sent), summarize(srcSeen), summarize(dstSeen), srcFailed, dstFailed)
			})
		}
	}
}

// indexBlobs lists the configs and layers of an index's images.
func indexBlobs(t *testing.T, idx v1.ImageIndex) []string {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Config.Digest.String())
		for _, l := range m.Layers {
			out = append(out, l.Digest.String())
		}
	}
	return out
}

// summarize counts requests by kind (method and what they address) and the
// most any one request was sent.
func summarize(counts map[string]int) string {
	kinds := map[string][2]int{}
	for k, n := range counts {
		kind := k
		switch {
		case strings.HasPrefix(k, "PUT upload"):
			kind = "PUT blob"
		case strings.Contains(k, "/blobs/uploads/"):
			kind = strings.SplitN(k, " ", 2)[0] + " upload"
		case strings.Contains(k, "/blobs/"):
			kind = strings.SplitN(k, " ", 2)[0] + " blob"
		case strings.Contains(k, "/manifests/"):
			kind = strings.SplitN(k, " ", 2)[0] + " manifest"
		}
		v := kinds[kind]
		v[0] += n
		v[1] = max(v[1], n)
		kinds[kind] = v
	}
	var out []string
	for k, v := range kinds {
		out = append(out, fmt.Sprintf("%s %d (max %d per request)", k, v[0], v[1]))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
