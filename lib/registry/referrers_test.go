package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// What counts as "no referrers API" (fall back to the tag schema) and what
// is a failure.
func TestReferrersAnswers(t *testing.T) {
	const index = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":7,"artifactType":"application/spdx+json"}]}`
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		noAPI  bool // ErrNoReferrersAPI
		refs   int
		fails  bool
	}{
		{"the API", 200, "application/vnd.oci.image.index.v1+json", index, false, 1, false},
		// What a registry with the API (zot, Harbor, quay.io) answers for
		// an image nothing refers to.
		{"the API, no referrers", 200, "application/vnd.oci.image.index.v1+json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, false, 0, false},
		{"404 (the spec's no)", 404, "text/plain", "404 page not found", true, 0, false},
		{"400 from a registry that does not know the route", 400, "application/json", `{"errors":[{"code":"UNSUPPORTED"}]}`, true, 0, false},
		{"406", 406, "text/plain", "", true, 0, false},
		{"200 that is no index (a proxy's page)", 200, "text/html", "<html></html>", true, 0, false},
		{"403 is a failure", 403, "application/json", `{"errors":[{"code":"DENIED"}]}`, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				if !strings.HasPrefix(r.URL.Path, "/v2/a/b/referrers/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := New(Options{Retry: retry.Policy{Attempts: 1}})
			repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/a/b")
			if err != nil {
				t.Fatal(err)
			}
			refs, err := c.Referrers(context.Background(), repo, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
			if got := errors.Is(err, ErrNoReferrersAPI); got != tc.noAPI {
				t.Fatalf("err %v: no-API %v, want %v", err, got, tc.noAPI)
			}
			if !tc.noAPI && (err != nil) != tc.fails {
				t.Fatalf("err %v, want failure %v", err, tc.fails)
			}
			if len(refs) != tc.refs || (tc.refs == 1 && (refs[0].Digest != "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" || refs[0].ArtifactType != "application/spdx+json")) {
				t.Fatalf("referrers %+v, want %d", refs, tc.refs)
			}
		})
	}
}

// A registry that said it has no referrers API is not asked again, for
// any repository; one that only said a repository is unknown is.
func TestReferrersNoAPIIsRemembered(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		asks int32
	}{
		{"no route", "404 page not found", 1},
		{"unknown repository", `{"errors":[{"code":"NAME_UNKNOWN"}]}`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asks atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/referrers/") {
					asks.Add(1)
				}
				if r.URL.Path != "/v2/" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusNotFound)
					w.Write([]byte(tc.body))
				}
			}))
			defer srv.Close()
			c := New(Options{Retry: retry.Policy{Attempts: 1}})
			for _, name := range []string{"a/b", "a/b", "c"} {
				repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/" + name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Referrers(context.Background(), repo, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNoReferrersAPI) {
					t.Fatalf("%s: err %v, want ErrNoReferrersAPI", name, err)
				}
			}
			if asks.Load() != tc.asks {
				t.Fatalf("asked %d times, want %d", asks.Load(), tc.asks)
			}
		})
	}
}
