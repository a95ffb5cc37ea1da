package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// countingRT counts requests by path kind.
type countingRT struct {
	inner       http.RoundTripper
	pings, rest atomic.Int64
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v2/" {
		c.pings.Add(1)
	} else {
		c.rest.Add(1)
	}
	return c.inner.RoundTrip(r)
}

// staticKeychain hands the same credentials for every repository.
type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// TestOneHandshakePerRegistry: a registry without per-repository tokens
// is pinged once however many repositories are touched; the handshake used
// to run per repository and doubled the requests of a plan or a rerun.
func TestOneHandshakePerRegistry(t *testing.T) {
	tests := []struct {
		name     string
		basic    bool // the registry wants Basic auth
		keychain authn.Keychain
	}{
		{name: "anonymous"},
		{name: "basic auth", basic: true, keychain: staticKeychain{"u", "p"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
			var unauthorized atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.basic {
					if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
						unauthorized.Add(1)
						w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
				}
				reg.ServeHTTP(w, r)
			}))
			defer srv.Close()
			rt := &countingRT{inner: http.DefaultTransport}
			c := New(Options{Base: rt, Keychain: tc.keychain})
			host := strings.TrimPrefix(srv.URL, "http://")
			const repos = 40
			for i := 0; i < repos; i++ {
				repo, err := c.Repository(fmt.Sprintf("%s/ns/app-%d", host, i))
				if err != nil {
					t.Fatal(err)
				}
				_, found, err := c.HeadManifest(context.Background(), repo, "latest")
				if err != nil || found {
					t.Fatalf("HeadManifest: found %v, %v", found, err)
				}
			}
			// Ping once to learn the auth scheme, once inside the handshake;
			// each ping of a loopback registry may try https and http.
			if got := rt.pings.Load(); got > 4 {
				t.Errorf("%d pings for %d repositories, want at most 4", got, repos)
			}
			if got := rt.rest.Load(); got != repos {
				t.Errorf("%d requests besides pings, want %d", got, repos)
			}
			if tc.basic && unauthorized.Load() > 2 {
				t.Errorf("%d unauthorized answers: credentials not sent on shared transport", unauthorized.Load())
			}
		})
	}
}
