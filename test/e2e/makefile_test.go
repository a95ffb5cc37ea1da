package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestExampleMakefileReleasesOperators runs examples/Makefile as its header says: `make
// archives` with releases, a filtered operator catalog and additional
// images, the source registry stopped, then `make resources` into another
// registry. skopeo confirms every pushed digest.
func TestExampleMakefileReleasesOperators(t *testing.T) {
	src, _, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 3})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	populate(t, src)
	dst := testenv.Start(t, testenv.RegistryOptions{})
	for name, cacheVar := range map[string]string{"Makefile's cache": "", "default cache": "CACHE="} {
		t.Run(name, func(t *testing.T) {
			if err := src.Restart(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			mk, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "Makefile"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "Makefile"), string(mk))
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(`mirror:
  platform:
    channels:
    - name: stable-4.15
      minVersion: 4.15.2
  operators:
  - catalog: %[2]s
    packages:
    - name: gamma
    - name: aqua
      defaultChannel: fast
      channels:
      - name: fast
  additionalImages:
  - name: %[1]s/ubi9/ubi:latest
  - name: %[1]s/multiarch/tools:1.0
`, src.Host, cat.Ref))
			env := []string{"UPDATE_URL_OVERRIDE=" + graphURL}
			if r := sh(t, dir, env, "make archives "+cacheVar); r.code != 0 {
				t.Fatalf("make archives: exit %d", r.code)
			}
			if err := src.Stop(); err != nil {
				t.Fatal(err)
			}
			if r := sh(t, dir, nil, "make resources MIRROR=docker://"+dst.Host+"/ocp "+cacheVar); r.code != 0 {
				t.Fatalf("make resources: exit %d", r.code)
			}
			origins := map[record.Origin]int{}
			for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
				if rec.Status != record.StatusPushed {
					t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
				}
				origins[rec.Origin]++
				if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
					t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
				}
			}
			for _, o := range []record.Origin{record.OriginRelease, record.OriginReleaseComponent, record.OriginCatalog, record.OriginBundle, record.OriginRelated, record.OriginAdditional} {
				if origins[o] == 0 {
					t.Errorf("no %s image pushed (%v)", o, origins)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "cluster-resources", ".done")); err != nil {
				t.Fatalf("resources not written: %v", err)
			}
		})
	}
}
