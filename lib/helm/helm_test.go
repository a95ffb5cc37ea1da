package helm

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/record"
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
	c := &Collector{HTTP: srv.Client()}
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
			set, err := c.Collect(context.Background(), &tc.h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(set.Images); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestChartArtifact: Collect packages each chart (a local directory twice
// to the same bytes); Store puts it in a cache as a Helm OCI artifact whose
// record names it; Archive reads back the archive Helm's loader loads, and
// refuses an image that is not a chart.
func TestChartArtifact(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := chartutil.SaveDir(fixture.HelmChart("loc", "0.1.0+build.7", "r.io/loc:0.1", "r.io/init:2", "r.io/side:loc"), local); err != nil {
		t.Fatal(err)
	}
	h := &config.Helm{Local: []config.HelmChart{{Name: "loc", Path: filepath.Join(local, "loc")}}}
	c := &Collector{}
	s1, err := c.Collect(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.Collect(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Charts) != 1 || !bytes.Equal(s1.Charts[0].Archive, s2.Charts[0].Archive) {
		t.Fatalf("a local directory packaged twice differs (or %d charts)", len(s1.Charts))
	}
	cch, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Store(context.Background(), cch, s1.Charts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Origin != record.OriginHelmChart || r.Source != "localhost/helm/charts/loc:0.1.0_build.7" || r.Destination != "helm/charts/loc:0.1.0_build.7" {
		t.Fatalf("record %+v", r)
	}
	file, data, err := Archive(cch, r)
	if err != nil {
		t.Fatal(err)
	}
	if file != "loc-0.1.0+build.7.tgz" || !bytes.Equal(data, s1.Charts[0].Archive) {
		t.Fatalf("archive %s (%d bytes)", file, len(data))
	}
	// An image manifest is no chart.
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + r.Digest + `","size":1},"layers":[]}`)
	d, err := cch.PutBytes(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Archive(cch, &record.Record{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json"}); !errors.Is(err, ErrNotChart) {
		t.Fatalf("image read as a chart: %v", err)
	}
}
