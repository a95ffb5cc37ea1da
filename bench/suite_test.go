package bench

import (
	"context"
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

type row struct {
	name  string
	wall  time.Duration
	bytes int64
	rss   int64 // KiB; 0 when not measured
}

// BenchmarkSuite runs, on one generated set (OCM_BENCH_SUITE_IMAGES images,
// default 200, each with 3 shared base layers and one own layer of
// OCM_BENCH_SUITE_LAYER_BYTES, default 10 MiB: about 2 GiB), in one run:
// ocm mirror to mirror, skopeo sync of the same images, cp -r of the same
// blob bytes, the ocm rerun with nothing new, ocm fetch+pack and
// unpack+push; and prints a table of wall time, MB/s, peak RSS and ratios.
func BenchmarkSuite(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	n := envInt("OCM_BENCH_SUITE_IMAGES", 200)
	size := envInt("OCM_BENCH_SUITE_LAYER_BYTES", 10<<20)
	src := testenv.Start(b, testenv.RegistryOptions{})
	start := time.Now()
	set, err := fixture.Generate(context.Background(), fixture.Options{Host: src.Host, LayerSize: size}, n, 3)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: %d images pushed in %s", n, time.Since(start).Round(time.Second))
	dir := b.TempDir()
	var isc, sync strings.Builder
	isc.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	fmt.Fprintf(&sync, "%s:\n  tls-verify: false\n  images:\n", src.Host)
	for _, img := range set.Images {
		fmt.Fprintf(&isc, "  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
		fmt.Fprintf(&sync, "    %s: [%s]\n", img.Repo, img.Tag)
	}
	os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(isc.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "sync.yaml"), []byte(sync.String()), 0o644)
	data, err := src.DataSize()
	if err != nil {
		b.Fatal(err)
	}
	var rows []row
	// Every step starts with the disk idle (nothing of an earlier step still
	// being written back) and ends with its writes on disk, as cp && sync.
	run := func(name, script string, bytes int64) row {
		if out, err := exec.Command("sync").CombinedOutput(); err != nil {
			b.Fatalf("sync: %v %s", err, out)
		}
		d, rss := timed(b, dir, "( "+script+" ) && sync")
		r := row{name, d, bytes, rss}
		rows = append(rows, r)
		return r
	}
	b.ResetTimer()
	t1 := testenv.Start(b, testenv.RegistryOptions{})
	first := run("ocm plan|push (mirror to mirror)", fmt.Sprintf("ocm-plan -c isc.yaml --loglevel error > plan.jsonl && ocm-push --loglevel error --image-workers 8 --blob-workers 16 docker://%s < plan.jsonl > /dev/null", t1.Host), data)
	rerun := run("ocm rerun, nothing new", fmt.Sprintf("ocm-plan -c isc.yaml --loglevel error | ocm-push --loglevel error --image-workers 8 docker://%s > /dev/null", t1.Host), 0)
	t2 := testenv.Start(b, testenv.RegistryOptions{})
	sk := run("skopeo sync (same images)", fmt.Sprintf("skopeo sync --src yaml --dest docker --dest-tls-verify=false sync.yaml %s/sync > /dev/null", t2.Host), data)
	cp := run("cp -r of the blob bytes", fmt.Sprintf("cp -r %s cpcopy", filepath.Join(src.Dir, "data")), data)
	fp := run("ocm fetch+pack", "ocm-fetch --loglevel error --image-workers 8 --blob-workers 16 --cache cache < plan.jsonl | ocm-pack --loglevel error --cache cache --out archives > /dev/null", data)
	t3 := testenv.Start(b, testenv.RegistryOptions{})
	up := run("ocm unpack+push", fmt.Sprintf("ocm-unpack --loglevel error archives --cache far | ocm-push --loglevel error --image-workers 8 --blob-workers 16 --cache far docker://%s > /dev/null", t3.Host), data)
	b.StopTimer()

	var out strings.Builder
	fmt.Fprintf(&out, "\n%d images, %d MiB in the source registry\n", n, data>>20)
	fmt.Fprintf(&out, "%-34s %10s %10s %12s\n", "step", "wall s", "MB/s", "peak RSS MiB")
	for _, r := range rows {
		rate := "-"
		if r.bytes > 0 {
			rate = fmt.Sprintf("%.0f", float64(r.bytes)/(1<<20)/r.wall.Seconds())
		}
		fmt.Fprintf(&out, "%-34s %10.2f %10s %12d\n", r.name, r.wall.Seconds(), rate, r.rss>>10)
	}
	fmt.Fprintf(&out, "ocm / skopeo sync wall time: %.2fx (target <= 0.33)\n", first.wall.Seconds()/sk.wall.Seconds())
	fmt.Fprintf(&out, "ocm / cp -r wall time:       %.2fx (target <= 1.5)\n", first.wall.Seconds()/cp.wall.Seconds())
	fmt.Fprintf(&out, "rerun / first run:           %.1f%% (target <= 2%%)\n", 100*rerun.wall.Seconds()/first.wall.Seconds())
	fmt.Fprintf(&out, "fetch+pack / unpack+push:    %.2fx\n", fp.wall.Seconds()/up.wall.Seconds())
	// Straight to stdout: go test cuts benchmark logs after a few lines.
	fmt.Print(out.String())
	b.ReportMetric(first.wall.Seconds()/sk.wall.Seconds(), "ocm/skopeo-sync")
	b.ReportMetric(first.wall.Seconds()/cp.wall.Seconds(), "ocm/cp")
	b.ReportMetric(100*rerun.wall.Seconds()/first.wall.Seconds(), "rerun-%")
}
