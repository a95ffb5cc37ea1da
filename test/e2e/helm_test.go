package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestHelmCharts: the images of two charts (one versioned with build
// metadata) from a repository served over HTTP on 127.0.0.1 (index.yaml
// and packaged charts) and of a local chart directory are mirrored m2m, and
// m2d then d2m with the source registry and the chart repository stopped; a
// blockedImages regex removes one.
func TestHelmCharts(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	populate(t, src)
	h := src.Host
	dir := t.TempDir()
	repo, err := fixture.NewHelmRepo(t.TempDir(),
		fixture.HelmChart("web", "1.0.0", h+"/ubi9/ubi:latest", h+"/ubi9/ubi-minimal:latest", h+"/library/alpine:3.20"),
		// A version with build metadata: '+' may not be in a tag, Helm
		// tags it with '_' and helm pull asks for it so.
		fixture.HelmChart("edge", "2.0.0+build.1", h+"/ubi9/ubi:latest", h+"/ubi9/ubi-minimal:latest", h+"/library/alpine:3.20"))
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
      - name: edge
        version: 2.0.0+build.1
    local:
    - name: local
      path: charts/local
  blockedImages:
  - name: "alpine:3\\.20$"
`, charts.URL))
	want := []string{
		h + "/docker/legacy:v1 pushed", h + "/library/alpine:3.20 skipped", h + "/ubi9/ubi-minimal:latest pushed", h + "/ubi9/ubi:latest pushed",
		"localhost/helm/charts/edge:2.0.0_build.1 pushed", "localhost/helm/charts/local:0.1.0 pushed", "localhost/helm/charts/web:1.0.0 pushed",
	}
	// check: the records, each pushed image in the mirror, and each chart
	// both in the mirror (a Helm OCI artifact) and in the workspace as
	// working-dir/helm/charts/<name>-<version>.tgz, judged by Helm's loader
	// and by the helm CLI: pulled from the mirror at host with `helm pull
	// oci://`, each copy says its name and version to `helm show chart` and
	// renders with `helm template` to containers whose images are the ones
	// ocm pushed.
	check := func(t *testing.T, side, out, host string) {
		t.Helper()
		var got []string
		pushed := map[string]bool{} // sources of the pushed images of origin helm
		for _, rec := range records(t, sh(t, side, nil, "cat "+out).stdout) {
			if rec.Origin != record.OriginHelm && rec.Origin != record.OriginHelmChart {
				t.Fatalf("record of origin %s: %+v", rec.Origin, rec)
			}
			got = append(got, rec.Source+" "+string(rec.Status))
			if rec.Origin == record.OriginHelm && rec.Status == record.StatusPushed {
				pushed[rec.Source] = true
			}
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
		rendered := map[string]bool{}
		for _, c := range []struct{ name, version string }{{"web", "1.0.0"}, {"local", "0.1.0"}, {"edge", "2.0.0+build.1"}} {
			tgz := filepath.Join(side, "working-dir", "helm", "charts", c.name+"-"+c.version+".tgz")
			ch, err := loader.Load(tgz)
			if err != nil {
				t.Fatalf("chart in the workspace: %v", err)
			}
			if ch.Name() != c.name || ch.Metadata.Version != c.version {
				t.Errorf("working-dir/helm/charts/%s-%s.tgz holds %s-%s", c.name, c.version, ch.Name(), ch.Metadata.Version)
			}
			inWorkspace := helmRender(t, tgz, c.name, c.version)
			inMirror := helmRender(t, helmPull(t, host, c.name, c.version), c.name, c.version)
			if inMirror.manifests != inWorkspace.manifests {
				t.Errorf("%s-%s: helm template renders the chart in the mirror and the one in the workspace differently:\n%s\n---- workspace:\n%s", c.name, c.version, inMirror.manifests, inWorkspace.manifests)
			}
			for _, img := range inMirror.images {
				if !pushed[img] {
					t.Errorf("%s-%s from the mirror runs %s, which ocm did not push", c.name, c.version, img)
				}
				rendered[img] = true
			}
		}
		for img := range pushed {
			if !rendered[img] {
				t.Errorf("ocm pushed %s, which no chart from the mirror runs", img)
			}
		}
	}
	t.Run("m2m", func(t *testing.T) {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push docker://"+dst.Host+" | ocm-resources > m2m.jsonl"); r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		check(t, dir, "m2m.jsonl", dst.Host)
	})
	t.Run("push without the plan's cache", func(t *testing.T) {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push --cache elsewhere docker://"+dst.Host+" > other.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "localhost/helm/charts/web:1.0.0: built by ocm-plan into its cache, and not in the cache this stage reads; fix: pass the --cache ocm-plan used") {
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
		check(t, far, "d2m.jsonl", dst.Host)
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
	// The tag is the version with '+' as '_', as helm push tags it.
	if got := ch.Name() + ":" + strings.ReplaceAll(ch.Metadata.Version, "+", "_"); got != nameTag {
		t.Errorf("%s holds chart %s", target, got)
	}
}

// helmEnv keeps the helm CLI off the user's configuration, cache, plugins
// and registry logins: each test gets its own empty homes.
func helmEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_REGISTRY_CONFIG=" + filepath.Join(home, "config", "registry.json"),
	}
}

// helmPull pulls chart name at version from the mirror at host as a
// cluster's tooling would (`helm pull oci://`) and returns the .tgz.
func helmPull(t *testing.T, host, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	r := sh(t, dir, helmEnv(t), fmt.Sprintf("%s pull oci://%s/helm/charts/%s --version %s --plain-http -d .", tool(t, "helm"), host, name, version))
	if r.code != 0 {
		t.Fatalf("helm pull %s:%s from the mirror: exit %d\n%s", name, version, r.code, r.stderr)
	}
	tgz := filepath.Join(dir, name+"-"+version+".tgz")
	if sh(t, dir, nil, "test -s "+tgz).code != 0 {
		t.Fatalf("helm pull %s:%s wrote no %s", name, version, tgz)
	}
	return tgz
}

// rendering is what `helm template` made of a chart: its manifests and
// the images of their containers and init containers.
type rendering struct {
	manifests string
	images    []string
}

// helmRender asks the helm CLI for the chart's name and version (`helm
// show chart`), which must be name and version, and renders it with `helm
// template`.
func helmRender(t *testing.T, tgz, name, version string) rendering {
	t.Helper()
	env, helm, dir := helmEnv(t), tool(t, "helm"), t.TempDir()
	r := sh(t, dir, env, helm+" show chart "+tgz)
	if r.code != 0 {
		t.Fatalf("helm show chart %s: exit %d\n%s", tgz, r.code, r.stderr)
	}
	var meta struct{ Name, Version string }
	if err := yaml.Unmarshal([]byte(r.stdout), &meta); err != nil {
		t.Fatalf("helm show chart %s: %v\n%s", tgz, err, r.stdout)
	}
	if meta.Name != name || meta.Version != version {
		t.Errorf("helm show chart %s: %s-%s, want %s-%s", tgz, meta.Name, meta.Version, name, version)
	}
	r = sh(t, dir, env, helm+" template release "+tgz)
	if r.code != 0 {
		t.Fatalf("helm template %s: exit %d\n%s", tgz, r.code, r.stderr)
	}
	out := rendering{manifests: r.stdout}
	dec := yaml.NewDecoder(strings.NewReader(r.stdout))
	for {
		var doc struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers     []struct{ Image string }
						InitContainers []struct{ Image string } `yaml:"initContainers"`
					}
				}
			}
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template %s: %v\n%s", tgz, err, r.stdout)
		}
		for _, c := range append(doc.Spec.Template.Spec.InitContainers, doc.Spec.Template.Spec.Containers...) {
			out.images = append(out.images, c.Image)
		}
	}
	if len(out.images) == 0 {
		t.Fatalf("helm template %s: no container images\n%s", tgz, r.stdout)
	}
	return out
}
