package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestN6SilentHelmRepository: ocm-plan stops within --retries tries of
// --idle-timeout when a Helm repository accepts and never answers, or
// drips a byte at a time, and an index.yaml naming a chart on another
// server is refused; each exits non-zero with one line naming the URL and
// the fix. A silent repository used to hang ocm-plan for good.
func TestN6SilentHelmRepository(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the server an index named got %s", r.URL)
	}))
	defer other.Close()
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string // in the error, after the index's URL
	}{
		{"silent", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "no data for 1s (--idle-timeout) (failed after 2 tries)"},
		{"drip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			for {
				w.Write([]byte("a"))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(3 * time.Second):
				}
			}
		}, "no data for 1s (--idle-timeout) (failed after 2 tries)"},
		{"chart on another server", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.0.0\n    urls:\n    - %s/web-1.0.0.tgz\n", other.URL)
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := httptest.NewServer(tc.handler)
			defer repo.Close()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  helm:\n    repositories:\n    - name: r\n      url: "+repo.URL+"\n      charts:\n      - name: web\n")
			start := time.Now()
			r := sh(t, dir, nil, "timeout 60 ocm-plan -c isc.yaml --cache cache --idle-timeout 1s --retries 2 > plan.jsonl")
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("ocm-plan took %s", took)
			}
			url, want := repo.URL+"/index.yaml", tc.want
			if tc.want == "" {
				url, want = other.URL+"/web-1.0.0.tgz", "not on the origin of a configured Helm repository"
			}
			if r.code != 1 || !strings.Contains(r.stderr, url) || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "fix: ") {
				t.Fatalf("exit %d, stderr %q; want 1, %s, %q and the fix", r.code, r.stderr, url, want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
		})
	}
}
