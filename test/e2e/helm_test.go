package e2e

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart/loader"
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
		"localhost/helm/charts/local:0.1.0 pushed", "localhost/helm/charts/web:1.0.0 pushed",
	}
	// check: the records, each pushed image in the mirror, and each chart
	// both in the mirror (a Helm OCI artifact) and in the workspace as
	// working-dir/helm/charts/<name>-<version>.tgz, judged by Helm's loader.
	check := func(t *testing.T, side, out string) {
		t.Helper()
		var got []string
		for _, rec := range records(t, sh(t, side, nil, "cat "+out).stdout) {
			if rec.Origin != record.OriginHelm && rec.Origin != record.OriginHelmChart {
				t.Fatalf("record of origin %s: %+v", rec.Origin, rec)
			}
			got = append(got, rec.Source+" "+string(rec.Status))
			if rec.Status == record.StatusPushed {
				if d := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); d != rec.Digest {
					t.Errorf("%s: %s, want %s", rec.Target, d, rec.Digest)
				}
			}
			if rec.Origin == record.OriginHelmChart {
				checkChartInMirror(t, rec.Target, strings.TrimPrefix(rec.Destination, "helm/charts/"))
			}
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, c := range []struct{ name, version string }{{"web", "1.0.0"}, {"local", "0.1.0"}} {
			ch, err := loader.Load(filepath.Join(side, "working-dir", "helm", "charts", c.name+"-"+c.version+".tgz"))
			if err != nil {
				t.Fatalf("chart in the workspace: %v", err)
			}
			if ch.Name() != c.name || ch.Metadata.Version != c.version {
				t.Errorf("working-dir/helm/charts/%s-%s.tgz holds %s-%s", c.name, c.version, ch.Name(), ch.Metadata.Version)
			}
		}
	}
	t.Run("m2m", func(t *testing.T) {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push docker://"+dst.Host+" | ocm-resources > m2m.jsonl"); r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		check(t, dir, "m2m.jsonl")
	})
	t.Run("push without the plan's cache", func(t *testing.T) {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push --cache elsewhere docker://"+dst.Host+" > other.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "localhost/helm/charts/web:1.0.0: built by ocm-plan into its cache, which this stage was not given; fix: pass the --cache ocm-plan used") {
			t.Fatalf("exit %d, want 1 naming the chart and the fix:\n%s", r.code, r.stderr)
		}
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
		// The far side: another directory (workspace, HOME and default cache).
		far := t.TempDir()
		if r := sh(t, far, nil, "ocm-unpack "+filepath.Join(dir, "archives")+" --cache far | ocm-push --cache far docker://"+dst.Host+" | ocm-resources --cache far > d2m.jsonl"); r.code != 0 {
			t.Fatalf("d2m exit %d", r.code)
		}
		check(t, far, "d2m.jsonl")
		// Without the cache that holds the charts: the cluster resources are
		// written, the charts are not, and the error says which cache to give.
		r := sh(t, far, nil, "ocm-resources --out res2 --charts charts2 < d2m.jsonl > /dev/null")
		if r.code != 1 || !strings.Contains(r.stderr, "helm charts: chart localhost/helm/charts/") || !strings.Contains(r.stderr, "fix: pass the --cache ocm-push read it from") {
			t.Fatalf("exit %d, want 1 naming the chart and the fix:\n%s", r.code, r.stderr)
		}
		if sh(t, far, nil, "test -s res2/itms-oc-mirror.yaml && test ! -e charts2").code != 0 {
			t.Error("without the charts' cache: want the cluster resources written and no chart directory")
		}
	})
}

// checkChartInMirror: the mirror holds a Helm OCI artifact at target, as
// `helm push` lays it out, whose chart layer Helm's loader reads as the
// chart tagged (name:version).
func checkChartInMirror(t *testing.T, target, nameTag string) {
	t.Helper()
	ref, err := name.ParseReference(target, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != "application/vnd.cncf.helm.config.v1+json" || len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
		t.Fatalf("%s is not a Helm chart artifact: %+v", target, m)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ch, err := loader.LoadArchive(rc)
	if err != nil {
		t.Fatalf("%s: chart layer: %v", target, err)
	}
	if got := ch.Name() + ":" + ch.Metadata.Version; got != nameTag {
		t.Errorf("%s holds chart %s", target, got)
	}
}
