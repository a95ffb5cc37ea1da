package helm

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/config"
)

func refs(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.Ref+" "+i.Chart)
	}
	return out
}

// TestImages: charts from a repository (the version asked for, else the
// newest) and a local directory are rendered with their default values;
// every image key is found, imagePaths add the others.
func TestImages(t *testing.T) {
	dir := t.TempDir()
	repo, err := fixture.NewHelmRepo(dir,
		fixture.HelmChart("web", "1.0.0", "r.io/web:1", "r.io/init:1", "r.io/side:1"),
		fixture.HelmChart("web", "1.1.0", "r.io/web:1.1", "r.io/init:1", "r.io/side:1.1"),
		fixture.HelmChart("db", "2.0.0", "r.io/db@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "r.io/init:1", "r.io/side:db"),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(repo)
	defer srv.Close()
	local := filepath.Join(dir, "local")
	if err := chartutil.SaveDir(fixture.HelmChart("loc", "0.1.0", "r.io/loc:0.1", "r.io/init:2", "r.io/side:loc"), local); err != nil {
		t.Fatal(err)
	}
	c := &Collector{}
	cases := []struct {
		name string
		h    config.Helm
		want []string
		err  string
	}{
		{name: "version asked for, imagePaths", h: config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL, Charts: []config.HelmChart{{Name: "web", Version: "1.0.0", ImagePaths: []string{"{.spec.sidecarRef}"}}}}}},
			want: []string{"r.io/web:1 web-1.0.0", "r.io/init:1 web-1.0.0", "r.io/side:1 web-1.0.0"}},
		{name: "newest version, no imagePaths", h: config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL + "/", Charts: []config.HelmChart{{Name: "web"}}}}},
			want: []string{"r.io/web:1.1 web-1.1.0", "r.io/init:1 web-1.1.0"}},
		{name: "every chart of the repository", h: config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL}}},
			want: []string{"r.io/db@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef db-2.0.0", "r.io/init:1 db-2.0.0", "r.io/web:1.1 web-1.1.0"}},
		{name: "local chart", h: config.Helm{Local: []config.HelmChart{{Name: "loc", Path: filepath.Join(local, "loc")}}},
			want: []string{"r.io/loc:0.1 loc-0.1.0", "r.io/init:2 loc-0.1.0"}},
		{name: "unknown version", h: config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL, Charts: []config.HelmChart{{Name: "web", Version: "9.9.9"}}}}},
			err: `version "9.9.9" is not in the index (it has 1.0.0, 1.1.0)`},
		{name: "unknown chart", h: config.Helm{Repositories: []config.HelmRepository{{Name: "r", URL: srv.URL, Charts: []config.HelmChart{{Name: "wbe"}}}}},
			err: "not in the repository's index.yaml; fix: check the chart name (known: db, web)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			imgs, err := c.Images(context.Background(), &tc.h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(imgs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}
