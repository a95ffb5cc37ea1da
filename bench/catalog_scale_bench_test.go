package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
// ocm-plan, and prints its time and peak RSS (wait4's Maxrss) beside
// gzip -dc of the same layer. The target: RSS flat as the catalog grows,
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
	fmt.Fprintf(&table, "%10s %10s %10s %10s %12s %10s %8s\n", "FBC MB", "layer MB", "gen s", "gzip -dc s", "ocm-plan s", "RSS MiB", "x gzip")
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
		gz, _ := run(b, dir, "gzip -dc "+blob+" > /dev/null")
		os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(fmt.Sprintf(scaleISC, lay, g.ChannelName(1), per/2+5, g.ChannelName(1))), 0o644)
		plan, rss := run(b, dir, "ocm-plan -c isc.yaml --cache cache --loglevel error > plan.jsonl")
		fmt.Fprintf(&table, "%10d %10d %10.1f %10.1f %12.1f %10d %8.1f\n", st.FBCBytes>>20, st.LayerBytes>>20, gen.Seconds(), gz.Seconds(), plan.Seconds(), rss>>10, plan.Seconds()/gz.Seconds())
		os.RemoveAll(dir)
	}
	b.Logf("catalog of %d packages x %d bundles, 3 packages selected:\n%s", pkgs, per, table.String())
}

// run runs script in dir and returns its wall time and peak RSS (KiB) as
// wait4 reports it (the largest of the processes waited for).
func run(b *testing.B, dir, script string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command("bash", "-c", "set -o pipefail; exec "+script)
	cmd.Dir, cmd.Env = dir, env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
	d := time.Since(start)
	return d, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}
