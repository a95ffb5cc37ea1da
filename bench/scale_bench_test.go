package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// BenchmarkAdditionalScale mirrors OCM_BENCH_SCALE_IMAGES additional images
// (default 20,000; tiny: one OCM_BENCH_SCALE_LAYER_BYTES layer each,
// default 1 KiB) and prints each stage's wall time and peak RSS, each
// stage a command of its own reading the previous one's records from a
// file: plan, push (mirror to mirror); fetch, pack, unpack, push (mirror to
// disk to mirror). With tiny images the per-image costs dominate: what
// grows with the number of images shows here.
func BenchmarkAdditionalScale(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	n := envInt("OCM_BENCH_SCALE_IMAGES", 20000)
	size := envInt("OCM_BENCH_SCALE_LAYER_BYTES", 1<<10)
	src := testenv.Start(b, testenv.RegistryOptions{})
	start := time.Now()
	set, err := fixture.Generate(context.Background(), fixture.Options{Host: src.Host, LayerSize: size}, n, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: %d images pushed in %s", n, time.Since(start).Round(time.Second))
	dir := b.TempDir()
	var isc strings.Builder
	isc.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, img := range set.Images {
		fmt.Fprintf(&isc, "  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
	}
	if err := os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(isc.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	m2m := testenv.Start(b, testenv.RegistryOptions{})
	d2m := testenv.Start(b, testenv.RegistryOptions{})
	stages := []struct{ name, script string }{
		{"plan", "ocm-plan -c isc.yaml --loglevel error > plan.jsonl"},
		{"push (mirror to mirror)", fmt.Sprintf("ocm-push --loglevel error docker://%s < plan.jsonl > pushed.jsonl", m2m.Host)},
		{"fetch", "ocm-fetch --loglevel error --cache cache < plan.jsonl > fetched.jsonl"},
		{"pack", "ocm-pack --loglevel error --cache cache --out archives < fetched.jsonl > packed.jsonl"},
		{"unpack", "ocm-unpack --loglevel error archives --cache far > unpacked.jsonl"},
		{"push (disk to mirror)", fmt.Sprintf("ocm-push --loglevel error --cache far docker://%s < unpacked.jsonl > d2m.jsonl", d2m.Host)},
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d images of one %d-byte layer\n%-26s %10s %12s %10s\n", n, size, "stage", "wall s", "peak RSS MiB", "records")
	b.ResetTimer()
	for _, s := range stages {
		d, rss := timed(b, dir, s.script)
		o := strings.Fields(s.script)
		recs := ""
		if f := o[len(o)-1]; strings.HasSuffix(f, ".jsonl") {
			body, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				b.Fatal(err)
			}
			recs = fmt.Sprint(strings.Count(string(body), "\n"))
		}
		fmt.Fprintf(&out, "%-26s %10.1f %12d %10s\n", s.name, d.Seconds(), rss>>10, recs)
	}
	b.StopTimer()
	// Straight to stdout: go test cuts benchmark logs after a few lines.
	fmt.Print(out.String())
}
