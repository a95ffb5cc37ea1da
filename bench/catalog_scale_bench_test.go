package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// scaleISC names three packages of the generated catalog, filtered three
// ways: the default channel's head, a channel from a version on, and a
// whole default channel.
const scaleISC = `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  operators:
  - catalog: oci://%s
    targetCatalog: ocm/big-index
    packages:
    - name: pkg-0000
    - name: pkg-0001
      channels:
      - name: %s
        minVersion: 1.%d.0
      defaultChannel: %s
    - name: pkg-0002
      minVersion: 1.0.0
`

// BenchmarkCatalogScale plans catalogs shaped like Red Hat's index
// (OCM_BENCH_CATALOG_PACKAGES packages of OCM_BENCH_CATALOG_BUNDLES bundles,
// default 50 x 100, entries skipping up to 90 versions) of growing size
// (OCM_BENCH_CATALOG_MB, default "50,500,1300" MB of FBC) with the built
// ocm-plan, for three packages and for the catalog alone (every package's
// head; the images of the other packages are not served, so those records
// fail), and prints its time and peak RSS (wait4's Maxrss) beside gzip -dc
// of the same layer. The target: RSS flat as the catalog grows,
// time within 3x gzip -dc.
func BenchmarkCatalogScale(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	ctx := context.Background()
	pkgs := envInt("OCM_BENCH_CATALOG_PACKAGES", 50)
	per := envInt("OCM_BENCH_CATALOG_BUNDLES", 100)
	sizes := os.Getenv("OCM_BENCH_CATALOG_MB")
	if sizes == "" {
		sizes = "50,500,1300"
	}
	reg := testenv.Start(b, testenv.RegistryOptions{})
	g := fixture.BigCatalog{Packages: pkgs, Bundles: per, Skips: min(90, per-2), Channels: 3, Host: reg.Host}
	images, err := g.PushImages(ctx, fixture.Options{Host: reg.Host}, []string{"pkg-0000", "pkg-0001", "pkg-0002"})
	if err != nil {
		b.Fatal(err)
	}
	g.Images = images
	var table strings.Builder
	fmt.Fprintf(&table, "%-14s %8s %8s %7s %10s %10s %8s %7s\n", "selection", "FBC MB", "layer MB", "gen s", "gzip -dc s", "ocm-plan s", "RSS MiB", "x gzip")
	for _, s := range strings.Split(sizes, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			b.Fatalf("OCM_BENCH_CATALOG_MB: %v", err)
		}
		g.ObjectBytes = mb << 20 / (pkgs * per)
		dir := b.TempDir()
		lay := filepath.Join(dir, "catalog")
		t0 := time.Now()
		st, err := g.WriteOCILayout(lay)
		if err != nil {
			b.Fatal(err)
		}
		gen := time.Since(t0)
		blob := filepath.Join(lay, "blobs", "sha256", strings.TrimPrefix(st.LayerDigest, "sha256:"))
		gz, _ := run(b, dir, "bash -c 'gzip -dc "+blob+" > /dev/null'")
		os.WriteFile(filepath.Join(dir, "three.yaml"), []byte(fmt.Sprintf(scaleISC, lay, g.ChannelName(1), per/2+5, g.ChannelName(1))), 0o644)
		// The catalog alone: every package's default-channel head.
		os.WriteFile(filepath.Join(dir, "heads.yaml"), []byte(fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: oci://%s\n    targetCatalog: ocm/big-index\n", lay)), 0o644)
		for _, isc := range []string{"three", "heads"} {
			plan, rss := run(b, dir, "ocm-plan -c "+isc+".yaml --cache cache-"+isc+" --loglevel error > "+isc+".jsonl")
			fmt.Fprintf(&table, "%-14s %8d %8d %7.1f %10.1f %10.1f %8d %7.1f\n", isc+" packages", st.FBCBytes>>20, st.LayerBytes>>20, gen.Seconds(), gz.Seconds(), plan.Seconds(), rss>>10, plan.Seconds()/gz.Seconds())
		}
		os.RemoveAll(dir)
	}
	b.Logf("catalog of %d packages x %d bundles; three packages selected, or every package's head:\n%s", pkgs, per, table.String())
}

// run runs command in dir (exit 0, or 1: images that failed) and returns
// its wall time and peak RSS (KiB), wait4's Maxrss of the command as GNU
// time reports it. Not the rusage of a child of this process: a child
// started here is cloned from it, and Linux counts this process's own RSS
// (the generator's) into the child's Maxrss.
func run(b *testing.B, dir, command string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command("bash", "-c", "/usr/bin/time -f %M -o rss.txt "+command+" || test $? = 1")
	cmd.Dir, cmd.Env = dir, env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", command, err, out)
	}
	d := time.Since(start)
	rb, err := os.ReadFile(filepath.Join(dir, "rss.txt"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Fields(string(rb))
	rss, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		b.Fatalf("rss.txt: %q", rb)
	}
	return d, rss
}
