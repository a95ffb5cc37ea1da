package e2e

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestHelmCharts: the images of a chart from a repository served over HTTP
// on 127.0.0.1 (index.yaml and packaged charts) and of a local chart
// directory are mirrored m2m, and m2d then d2m with the source registry and
// the chart repository stopped; a blockedImages regex removes one.
func TestHelmCharts(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	populate(t, src)
	h := src.Host
	dir := t.TempDir()
	repo, err := fixture.NewHelmRepo(t.TempDir(),
		fixture.HelmChart("web", "1.0.0", h+"/ubi9/ubi:latest", h+"/ubi9/ubi-minimal:latest", h+"/library/alpine:3.20"))
	if err != nil {
		t.Fatal(err)
	}
	charts := httptest.NewServer(repo)
	defer charts.Close()
	if err := chartutil.SaveDir(fixture.HelmChart("local", "0.1.0", h+"/docker/legacy:v1", h+"/ubi9/ubi-minimal:latest", h+"/nested/a/b/c/deep:1.0"), filepath.Join(dir, "charts")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(`mirror:
  helm:
    repositories:
    - name: fixture
      url: %s
      charts:
      - name: web
        version: 1.0.0
        imagePaths:
        - "{.spec.sidecarRef}"
    local:
    - name: local
      path: charts/local
  blockedImages:
  - name: "alpine:3\\.20$"
`, charts.URL))
	want := []string{
		h + "/docker/legacy:v1 pushed", h + "/library/alpine:3.20 skipped", h + "/ubi9/ubi-minimal:latest pushed", h + "/ubi9/ubi:latest pushed",
	}
	check := func(t *testing.T, dst *testenv.Registry, out string) {
		t.Helper()
		var got []string
		for _, rec := range records(t, sh(t, dir, nil, "cat "+out).stdout) {
			if rec.Origin != record.OriginHelm {
				t.Fatalf("record of origin %s: %+v", rec.Origin, rec)
			}
			got = append(got, rec.Source+" "+string(rec.Status))
			if rec.Status == record.StatusPushed {
				if d := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); d != rec.Digest {
					t.Errorf("%s: %s, want %s", rec.Target, d, rec.Digest)
				}
			}
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	t.Run("m2m", func(t *testing.T) {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push docker://"+dst.Host+" > m2m.jsonl"); r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		check(t, dst, "m2m.jsonl")
	})
	t.Run("m2d then d2m, source stopped", func(t *testing.T) {
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch | ocm-pack --out file://$PWD/archives > packed.jsonl"); r.code != 0 {
			t.Fatalf("m2d exit %d", r.code)
		}
		if err := src.Stop(); err != nil {
			t.Fatal(err)
		}
		charts.Close()
		dst := testenv.Start(t, testenv.RegistryOptions{})
		if r := sh(t, dir, nil, "ocm-unpack archives --cache far | ocm-push --cache far docker://"+dst.Host+" > d2m.jsonl"); r.code != 0 {
			t.Fatalf("d2m exit %d", r.code)
		}
		check(t, dst, "d2m.jsonl")
	})
}
