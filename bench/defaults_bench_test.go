package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// BenchmarkDefaults answers "are the defaults as fast as tuned flags?" on
// the suite's generated set (OCM_BENCH_SUITE_IMAGES, OCM_BENCH_SUITE_LAYER_BYTES):
// ocm-push of one plan with no concurrency flags and with tuned ones, each
// into a fresh registry. The configurations run interleaved, in a rotated
// order, for OCM_BENCH_ROUNDS rounds (default 3), so load from elsewhere
// falls on all of them alike. The tuned configuration of the lowest median
// is the best; the defaults' time is divided by its time round by round. It
// prints each configuration's median and the ratio's median and range
// (target: the median within 1.10).
func BenchmarkDefaults(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	n := envInt("OCM_BENCH_SUITE_IMAGES", 200)
	size := envInt("OCM_BENCH_SUITE_LAYER_BYTES", 10<<20)
	rounds := envInt("OCM_BENCH_ROUNDS", 3)
	src := testenv.Start(b, testenv.RegistryOptions{})
	set, err := fixture.Generate(context.Background(), fixture.Options{Host: src.Host, LayerSize: size}, n, 3)
	if err != nil {
		b.Fatal(err)
	}
	data, err := src.DataSize()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var isc strings.Builder
	isc.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, img := range set.Images {
		fmt.Fprintf(&isc, "  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
	}
	if err := os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(isc.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	bash(b, dir, "ocm-plan -c isc.yaml --loglevel error > plan.jsonl")

	configs := []struct{ name, flags string }{
		{"defaults (no flags)", ""},
		{"--image-workers 4 --blob-workers 8", "--image-workers 4 --blob-workers 8"},
		{"--image-workers 8 --blob-workers 16", "--image-workers 8 --blob-workers 16"},
		{"--image-workers 16 --blob-workers 32", "--image-workers 16 --blob-workers 32"},
	}
	times := make([][]time.Duration, len(configs)) // [config][round]
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		got := make([]time.Duration, len(configs))
		for k := range configs {
			i := (k + r) % len(configs) // rotate the order each round
			b.StopTimer()
			dst, err := testenv.StartRegistry(context.Background(), filepath.Join(dir, fmt.Sprintf("dst-%d-%d", r, i)), testenv.RegistryOptions{})
			if err != nil {
				b.Fatal(err)
			}
			bash(b, dir, "sync")
			b.StartTimer()
			got[i] = bash(b, dir, fmt.Sprintf("ocm-push --loglevel error %s docker://%s < plan.jsonl > /dev/null", configs[i].flags, dst.Host))
			b.StopTimer()
			dst.Stop()
			os.RemoveAll(dst.Dir) // the disk is shared: keep one copy at a time
			b.StartTimer()
			times[i] = append(times[i], got[i])
		}
	}
	b.StopTimer()
	// The best tuned configuration is the one of the lowest median; the
	// defaults are compared with it round by round (paired runs). Taking
	// each round's fastest tuned run instead would compare one run with
	// the minimum of three and favour the tuned side by the noise alone.
	best := 1
	for i := 2; i < len(configs); i++ {
		if median(seconds(times[i])) < median(seconds(times[best])) {
			best = i
		}
	}
	var ratios []float64
	for r := range times[0] {
		ratios = append(ratios, times[0][r].Seconds()/times[best][r].Seconds())
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\n%d images, %d MiB in the source registry, ocm-push, %d interleaved rounds\n", n, data>>20, rounds)
	fmt.Fprintf(&out, "%-38s %10s %s\n", "configuration", "median s", "each round s")
	for i, c := range configs {
		var each []string
		for _, d := range times[i] {
			each = append(each, fmt.Sprintf("%.2f", d.Seconds()))
		}
		fmt.Fprintf(&out, "%-38s %10.2f %s\n", c.name, median(seconds(times[i])), strings.Join(each, " "))
	}
	lo, hi := ratios[0], ratios[0]
	for _, x := range ratios {
		lo, hi = min(lo, x), max(hi, x)
	}
	fmt.Fprintf(&out, "defaults / best tuned (%s), paired per round: median %.2fx, range %.2f-%.2f (target: median <= 1.10)\n", configs[best].name, median(ratios), lo, hi)
	fmt.Print(out.String())
	b.ReportMetric(median(ratios), "defaults/best-tuned")
}

func seconds(ds []time.Duration) []float64 {
	var s []float64
	for _, d := range ds {
		s = append(s, d.Seconds())
	}
	return s
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
