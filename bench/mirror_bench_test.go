// Package bench compares ocm with skopeo on the same data in the same run.
// Run with `make bench` (not part of `make test`). Machines here are noisy:
// read the ratios, not the seconds.
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // not benchmarking: nothing to build
	}
	dir, err := os.MkdirTemp("", "ocm-bench-bin-")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func env() []string { return append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")) }

func bash(b *testing.B, dir, script string) time.Duration {
	b.Helper()
	cmd := exec.Command("bash", "-c", "set -o pipefail; "+script)
	cmd.Dir, cmd.Env = dir, env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
	return time.Since(start)
}

// BenchmarkMirrorToMirror mirrors a generated set (images sharing base
// layers) with ocm-plan | ocm-push and with one `skopeo copy --all` per
// image, each into a fresh registry, and reports both rates and their ratio.
func BenchmarkMirrorToMirror(b *testing.B) {
	ctx := context.Background()
	images := envInt("OCM_BENCH_IMAGES", 40)
	layerSize := envInt("OCM_BENCH_LAYER_BYTES", 2<<20)
	src := testenv.Start(b, testenv.RegistryOptions{})
	set, err := fixture.Generate(ctx, fixture.Options{Host: src.Host, LayerSize: layerSize}, images, 3)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var isc strings.Builder
	isc.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	var skopeoScript strings.Builder
	skopeoScript.WriteString("set -e\n")
	var unique int64
	seen := map[string]bool{}
	for _, img := range set.Images {
		fmt.Fprintf(&isc, "  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
		fmt.Fprintf(&skopeoScript, "skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false docker://%s/%s:%s docker://$DST/%s:%s\n", src.Host, img.Repo, img.Tag, img.Repo, img.Tag)
		for _, l := range img.Layers {
			if !seen[l] {
				seen[l] = true
				unique += int64(layerSize)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(isc.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "skopeo.sh"), []byte(skopeoScript.String()), 0o755); err != nil {
		b.Fatal(err)
	}
	var ocmTotal, skopeoTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d1 := testenv.Start(b, testenv.RegistryOptions{})
		d2 := testenv.Start(b, testenv.RegistryOptions{})
		b.StartTimer()
		ocmTotal += bash(b, dir, fmt.Sprintf("ocm-plan -c isc.yaml --loglevel error | ocm-push --loglevel error docker://%s > /dev/null", d1.Host))
		b.StopTimer()
		skopeoTotal += bash(b, dir, "DST="+d2.Host+" ./skopeo.sh")
		d1.Stop()
		d2.Stop()
		b.StartTimer()
	}
	b.StopTimer()
	mb := float64(unique) / (1 << 20)
	ocmRate := mb * float64(b.N) / ocmTotal.Seconds()
	skopeoRate := mb * float64(b.N) / skopeoTotal.Seconds()
	b.ReportMetric(ocmRate, "ocm-MB/s")
	b.ReportMetric(skopeoRate, "skopeo-MB/s")
	b.ReportMetric(ocmTotal.Seconds()/skopeoTotal.Seconds(), "time-ratio-ocm/skopeo")
	b.Logf("%d images, %.0f MiB of unique layers: ocm %.1f MB/s, skopeo copy %.1f MB/s, ocm takes %.2fx skopeo's time",
		len(set.Images), mb, ocmRate, skopeoRate, ocmTotal.Seconds()/skopeoTotal.Seconds())
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}
