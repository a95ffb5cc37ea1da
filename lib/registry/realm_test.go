package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// TestN15TokenRealm: a token service on the registry's host but another
// port (as docker_auth and Harbor deploy it) is used; one on another host
// at a private address, or reached by plain http from an https registry,
// is refused before anything is sent there, with the fix. The first used
// to be refused too, with no fix.
func TestN15TokenRealm(t *testing.T) {
	var tokens atomic.Int32
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" || r.URL.Query().Get("service") != "reg" {
			http.NotFound(w, r)
			return
		}
		tokens.Add(1)
		fmt.Fprint(w, `{"token":"tok"}`)
	}))
	defer token.Close()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	registry := func(realm string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="reg",scope="repository:ns/app:pull"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.URL.Path == "/v2/ns/app/manifests/latest" {
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Header().Set("Docker-Content-Digest", digest)
				w.Header().Set("Content-Length", "2")
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	cases := []struct {
		name    string
		tls     bool
		realm   string
		refused bool
	}{
		{name: "same host, another port", realm: token.URL + "/token"},
		{name: "another host by name", realm: strings.Replace(token.URL, "127.0.0.1", "localhost", 1) + "/token"},
		{name: "another host, private address", realm: "https://10.1.2.3/token", refused: true},
		{name: "https registry, http realm on its host", tls: true, realm: token.URL + "/token", refused: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens.Store(0)
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(registry(tc.realm))
			} else {
				srv = httptest.NewServer(registry(tc.realm))
			}
			defer srv.Close()
			rec := &recordingRT{inner: srv.Client().Transport}
			c := New(Options{Base: rec, TLSVerify: true, Retry: retry.Policy{Attempts: 2, Base: time.Millisecond}})
			repo, err := c.Repository(srv.Listener.Addr().String() + "/ns/app")
			if err != nil {
				t.Fatal(err)
			}
			d, found, err := c.HeadManifest(context.Background(), repo, "latest")
			if !tc.refused {
				if err != nil || !found || d.Digest != digest || tokens.Load() == 0 {
					t.Fatalf("HeadManifest: %v (found %v, %d tokens)", err, found, tokens.Load())
				}
				return
			}
			if !errors.Is(err, ErrRealm) || !strings.Contains(err.Error(), "fix: ") {
				t.Fatalf("err = %v, want ErrRealm with the fix", err)
			}
			t.Logf("refused: %v", err)
			if tokens.Load() > 0 {
				t.Errorf("the token service was asked")
			}
			for _, u := range rec.urls {
				if !strings.Contains(u, srv.Listener.Addr().String()) {
					t.Errorf("sent to %s", u)
				}
			}
		})
	}
}
