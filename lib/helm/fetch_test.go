package helm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/config"
)

// TestN16HostileIndexStaysOnOrigin: a repository's index.yaml (another
// server's content) cannot send ocm-plan to a server the configuration
// does not name: an absolute chart URL on another port of the same
// address, a redirect to another origin and a redirect from https to http
// are each refused, naming the URL and the fix, and the other server sees
// nothing. Relative URLs, absolute URLs on the repository's own origin and
// on the origin of another configured repository still work.
func TestN16HostileIndexStaysOnOrigin(t *testing.T) {
	charts, err := fixture.NewHelmRepo(t.TempDir(), fixture.HelmChart("web", "1.0.0", "r.io/web:1", "r.io/init:1", "r.io/side:1"))
	if err != nil {
		t.Fatal(err)
	}
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		charts.ServeHTTP(w, r)
	}))
	defer other.Close()
	const tgz = "/charts/web-1.0.0.tgz"
	// repo serves an index whose one chart URL is chartURL (%s: the
	// repository's own base URL), and redirects /moved/* to redirect.
	repo := func(tls bool, chartURL, redirect string) *httptest.Server {
		var srv *httptest.Server
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/index.yaml":
				u := chartURL
				if strings.Contains(u, "%s") {
					u = fmt.Sprintf(u, srv.URL)
				}
				fmt.Fprintf(w, "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.0.0\n    urls:\n    - %s\ngenerated: \"2024-01-01T00:00:00Z\"\n", u)
			case strings.HasPrefix(r.URL.Path, "/moved/"):
				http.Redirect(w, r, redirect, http.StatusFound)
			default:
				charts.ServeHTTP(w, r)
			}
		})
		if tls {
			srv = httptest.NewTLSServer(h)
		} else {
			srv = httptest.NewServer(h)
		}
		t.Cleanup(srv.Close)
		return srv
	}
	cases := []struct {
		name     string
		tls      bool
		chartURL string
		redirect string
		also     bool   // configure other as a repository too
		refused  string // the URL named; "": the chart is read
	}{
		{name: "relative URL", chartURL: "charts/web-1.0.0.tgz"},
		{name: "absolute URL on the repository's origin", chartURL: "%s" + tgz},
		{name: "absolute URL to another port", chartURL: other.URL + tgz, refused: other.URL + tgz},
		{name: "absolute URL to a configured repository", chartURL: other.URL + tgz, also: true},
		{name: "redirect to another origin", chartURL: "moved/web.tgz", redirect: other.URL + tgz, refused: other.URL + tgz},
		{name: "redirect from https to http", tls: true, chartURL: "moved/web.tgz", redirect: other.URL + tgz, also: true, refused: other.URL + tgz},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			otherHits.Store(0)
			srv := repo(tc.tls, tc.chartURL, tc.redirect)
			h := &config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL, Charts: []config.HelmChart{{Name: "web"}}}}}
			if tc.also {
				h.Repositories = append(h.Repositories, config.HelmRepository{Name: "o", URL: other.URL, Charts: []config.HelmChart{{Name: "web"}}})
			}
			c := &Collector{HTTP: srv.Client()}
			set, err := c.Collect(context.Background(), h)
			if tc.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(set.Charts) == 0 || set.Charts[0].Metadata.Name != "web" {
					t.Fatalf("charts %v", set.Charts)
				}
				return
			}
			if !errors.Is(err, ErrOffOrigin) || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "fix: ") {
				t.Fatalf("err = %v, want ErrOffOrigin naming %s and the fix", err, tc.refused)
			}
			if n := otherHits.Load(); n > 0 && !tc.also {
				t.Errorf("the other server got %d requests", n)
			}
		})
	}
}

// bigIndex writes an index.yaml of about size bytes, Helm's layout: many
// charts of many versions, "web" among them pointing at chartURL.
func bigIndex(w io.Writer, size int, chartURL string) {
	bw := bufio.NewWriterSize(w, 1<<16)
	defer bw.Flush()
	fmt.Fprintf(bw, "apiVersion: v1\nentries:\n")
	desc := strings.Repeat("A chart for testing the memory an index takes. ", 8)
	n := 0
	for i := 0; n < size; i++ {
		name := fmt.Sprintf("chart-%05d", i)
		if i == 1500 {
			name = "web"
		}
		b := fmt.Sprintf("  %s:\n", name)
		for v := 0; v < 30; v++ {
			u := fmt.Sprintf("https://charts.example.com/%s-1.%d.0.tgz", name, v)
			if name == "web" {
				u = chartURL
			}
			b += fmt.Sprintf("  - apiVersion: v2\n    created: \"2024-01-01T00:00:00Z\"\n    description: %s\n    digest: %064x\n    maintainers:\n    - email: a@example.com\n      name: a\n    name: %s\n    urls:\n    - %s\n    version: 1.%d.0\n", desc, i*100+v, name, u, v)
			if name == "web" {
				break
			}
		}
		n += len(b)
		bw.WriteString(b)
	}
	fmt.Fprintf(bw, "generated: \"2024-01-01T00:00:00Z\"\n")
}

// TestN11LargeIndexBoundedMemory: a 63 MiB index.yaml is read as it
// streams and only the entries of the charts asked for are kept: the heap
// stays far below what decoding it whole took (over a gigabyte).
func TestN11LargeIndexBoundedMemory(t *testing.T) {
	charts, err := fixture.NewHelmRepo(t.TempDir(), fixture.HelmChart("web", "1.0.0", "r.io/web:1", "r.io/init:1", "r.io/side:1"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			bigIndex(w, 63<<20, "charts/web-1.0.0.tgz")
			return
		}
		charts.ServeHTTP(w, r)
	}))
	defer srv.Close()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	c := &Collector{HTTP: srv.Client()}
	set, err := c.Collect(context.Background(), &config.Helm{Repositories: []config.HelmRepository{{Name: "big", URL: srv.URL, Charts: []config.HelmChart{{Name: "web"}}}}})
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Charts) != 1 || set.Charts[0].Metadata.Version != "1.0.0" {
		t.Fatalf("charts %+v", set.Charts)
	}
	grew := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("heap grew by %d MiB at most", grew>>20)
	if grew > 200<<20 {
		t.Errorf("the heap grew by %d MiB reading a 63 MiB index", grew>>20)
	}
}

// TestN11IndexLayouts: the streaming decoder reads what decoding the whole
// file reads, for the layouts indexes come in, and keeps only the charts
// asked for; past the cap it stops, naming the cap and the setting.
func TestN11IndexLayouts(t *testing.T) {
	block := "apiVersion: v1\n# a comment\nentries:\n  \"db\":\n  - name: db\n    urls:\n    - db-2.0.0.tgz\n    version: 2.0.0\n\n  web:\n    - name: web\n      description: |\n        web: not a key\n        - nor a list\n      urls: [web-1.0.0.tgz]\n      version: 1.0.0\n    - version: 1.1.0\n      urls:\n      - web-1.1.0.tgz\n# between\ngenerated: now\nserverInfo:\n  contextPath: /x\n"
	json := `{"apiVersion":"v1","entries":{"db":[{"urls":["db-2.0.0.tgz"],"version":"2.0.0"}],"web":[{"urls":["web-1.0.0.tgz"],"version":"1.0.0"},{"urls":["web-1.1.0.tgz"],"version":"1.1.0"}]}}`
	flow := "apiVersion: v1\nentries: {db: [{urls: [db-2.0.0.tgz], version: 2.0.0}], web: [{urls: [web-1.0.0.tgz], version: 1.0.0}, {urls: [web-1.1.0.tgz], version: 1.1.0}]}\n"
	all := map[string][]indexVersion{
		"db":  {{Version: "2.0.0", URLs: []string{"db-2.0.0.tgz"}}},
		"web": {{Version: "1.0.0", URLs: []string{"web-1.0.0.tgz"}}, {Version: "1.1.0", URLs: []string{"web-1.1.0.tgz"}}},
	}
	for name, doc := range map[string]string{"block": block, "json": json, "flow": flow} {
		for _, want := range []map[string]bool{nil, {"web": true}} {
			t.Run(fmt.Sprintf("%s/%v", name, want), func(t *testing.T) {
				idx, err := decodeIndex(strings.NewReader(doc), want)
				if err != nil {
					t.Fatal(err)
				}
				exp := map[string][]indexVersion{"db": all["db"], "web": all["web"]}
				if want != nil {
					exp["db"] = nil // named, not kept
				}
				if !reflect.DeepEqual(idx.Entries, exp) {
					t.Errorf("entries %+v\nwant %+v", idx.Entries, exp)
				}
			})
		}
	}
	t.Run("cap", func(t *testing.T) {
		t.Setenv(IndexMaxEnv, "1")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { bigIndex(w, 2<<20, "web.tgz") }))
		defer srv.Close()
		_, err := (&Collector{HTTP: srv.Client()}).Collect(context.Background(), &config.Helm{Repositories: []config.HelmRepository{{Name: "big", URL: srv.URL, Charts: []config.HelmChart{{Name: "web"}}}}})
		if !errors.Is(err, capread.ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") || !strings.Contains(err.Error(), IndexMaxEnv) {
			t.Errorf("err = %v, want the cap and %s", err, IndexMaxEnv)
		}
	})
}
