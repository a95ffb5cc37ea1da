package plan

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cincinnati"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/retry"
)

// TestN6EveryDownloadStops: each plain HTTP(S) download of ocm-plan (a Helm
// repository's index.yaml, the update graph, a release signature, the
// graph data) goes through the source registry client's transport: a
// server that accepts and never answers, or sends a byte a second, is given
// up on after --retries tries of --idle-timeout, with an error naming the
// URL and the fix; plain HTTP to a name off loopback is refused before it
// is sent. Before, each made its own http.Client: the Helm one waited
// forever, and none had the guard.
func TestN6EveryDownloadStops(t *testing.T) {
	fetchers := []struct {
		name string
		run  func(t *testing.T, p *Planner, base string) error
	}{
		{"helm index.yaml", func(t *testing.T, p *Planner, base string) error {
			cfg := &config.Config{Kind: config.KindImageSet, Spec: config.ImageSet{Helm: &config.Helm{
				Repositories: []config.HelmRepository{{Name: "r", URL: base + "/charts"}}}}}
			_, err := p.helmRecords(context.Background(), cfg)
			return err
		}},
		{"update graph", func(t *testing.T, p *Planner, base string) error {
			t.Setenv(cincinnati.OverrideEnv, base)
			_, err := p.Releases(context.Background(), &config.Platform{Channels: []config.PlatformChannel{{Name: "stable-4.16"}}})
			return err
		}},
		{"release signature", func(t *testing.T, p *Planner, base string) error {
			t.Setenv(releasesig.StoreEnv, base+"/sigs")
			cfg := &config.Config{Kind: config.KindImageSet, Spec: config.ImageSet{Platform: &config.Platform{}}}
			if err := p.UseSignatures(cfg, false); err != nil {
				t.Fatal(err)
			}
			_, err := p.Signatures.Signatures(context.Background(), "sha256:"+strings.Repeat("a", 64))
			return err
		}},
		{"graph data", func(t *testing.T, p *Planner, base string) error {
			cfg := &config.Config{Kind: config.KindImageSet, Spec: config.ImageSet{Platform: &config.Platform{Graph: true}}}
			open := func() (*cache.Cache, error) { return cache.Open(filepath.Join(t.TempDir(), "cache")) }
			eng := func() *copier.Engine { return copier.New(copier.Options{}) }
			if err := p.UseCache(cfg, open, eng, base+"/graph-data.tar.gz", ""); err != nil {
				t.Fatal(err)
			}
			_, err := p.Graph.Build(context.Background())
			return err
		}},
	}
	servers := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"silent", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"drip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusOK)
			for {
				w.Write([]byte{0x1f})
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Second):
				}
			}
		}},
		{"plain HTTP off loopback", nil},
	}
	for _, f := range fetchers {
		for _, s := range servers {
			t.Run(f.name+"/"+s.name, func(t *testing.T) {
				var sent int
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					sent++
					if s.handler != nil {
						s.handler(w, r)
					}
				}))
				defer srv.Close()
				base, want := srv.URL, registry.ErrStalled
				if s.handler == nil {
					// A name that resolves nowhere: nothing may be sent, not even
					// a lookup's worth of trying.
					base, want = strings.Replace(srv.URL, "127.0.0.1", "charts.localhost", 1), registry.ErrPlainHTTP
				}
				c := registry.New(registry.Options{TLSVerify: true, IdleTimeout: 300 * time.Millisecond,
					Retry: retry.Policy{Attempts: 2, Base: time.Millisecond, Max: time.Second}})
				p := &Planner{Client: c, Log: logging.New("test", logging.Error, io.Discard), Workers: 2}
				start := time.Now()
				err := f.run(t, p, base)
				t.Logf("%v", err)
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("gave up after %s", took)
				}
				if !errors.Is(err, want) || !strings.Contains(err.Error(), base) || !strings.Contains(err.Error(), "fix: ") {
					t.Errorf("err = %v\nwant %v naming %s and the fix", err, want, base)
				}
				if s.handler == nil && sent > 0 {
					t.Errorf("%d requests reached the server", sent)
				}
			})
		}
	}
}
