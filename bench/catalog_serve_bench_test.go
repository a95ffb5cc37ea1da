package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
)

// BenchmarkCatalogParallel plans one catalog shaped like Red Hat's index
// (50 packages x 100 bundles, OCM_BENCH_CATALOG_MB MB of config, default
// 500), three packages of it, then three such catalogs in one
// configuration, and prints ocm-plan's time and peak RSS for each: the
// catalogs of a configuration share one memory bound, not one each.
func BenchmarkCatalogParallel(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	ctx := context.Background()
	reg := testenv.Start(b, testenv.RegistryOptions{})
	g := fixture.BigCatalog{Packages: 50, Bundles: 100, Skips: 90, Channels: 3, Host: reg.Host}
	g.ObjectBytes = envInt("OCM_BENCH_CATALOG_MB", 500) << 20 / (g.Packages * g.Bundles)
	images, err := g.PushImages(ctx, fixture.Options{Host: reg.Host}, []string{"pkg-0000", "pkg-0001", "pkg-0002"})
	if err != nil {
		b.Fatal(err)
	}
	g.Images = images
	dir := b.TempDir()
	var ops [3]string
	var fbc int64
	for i := range ops {
		// Three catalogs, each its own layout and content (entries
		// skipping 90, 89, 88 versions), so none is a copy of another.
		g.Skips = 90 - i
		lay := filepath.Join(dir, fmt.Sprintf("catalog-%d", i))
		st, err := g.WriteOCILayout(lay)
		if err != nil {
			b.Fatal(err)
		}
		fbc = st.FBCBytes
		ops[i] = strings.Replace(strings.SplitN(fmt.Sprintf(scaleISC, lay, g.ChannelName(1), 55, g.ChannelName(1)), "operators:\n", 2)[1], "ocm/big-index", fmt.Sprintf("ocm/big-index-%d", i), 1)
	}
	isc := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n"
	os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(isc+ops[0]), 0o644)
	os.WriteFile(filepath.Join(dir, "three.yaml"), []byte(isc+ops[0]+ops[1]+ops[2]), 0o644)
	var table strings.Builder
	fmt.Fprintf(&table, "%-12s %8s %10s %8s %8s\n", "catalogs", "FBC MB", "ocm-plan s", "RSS MiB", "records")
	for _, n := range []string{"one", "three"} {
		d, rss := run(b, dir, "ocm-plan -c "+n+".yaml --cache cache-"+n+" --loglevel error > "+n+".jsonl")
		recs, _ := os.ReadFile(filepath.Join(dir, n+".jsonl"))
		fmt.Fprintf(&table, "%-12s %8d %10.1f %8d %8d\n", n, fbc>>20, d.Seconds(), rss>>10, strings.Count(string(recs), "\n"))
	}
	b.Logf("three packages of each catalog:\n%s", table.String())
}

// BenchmarkCatalogServe: how long opm serve (bin/opm, make tools) takes to
// answer its first gRPC call, and its peak RSS, for the catalog ocm rebuilds
// from a catalog of Red Hat's shape keeping all its 50 packages (each
// package's default-channel head, as a configuration naming only the
// catalog selects), and for the original catalog of 5,000 bundles: with
// the cache built at start (what a rebuilt catalog does, see
// catalog.ServeArgs), and from a cache built beforehand by the same opm
// (--cache-only), which opm accepts only when it was built by the same
// opm from the same files.
func BenchmarkCatalogServe(b *testing.B) {
	if b.N > 1 {
		b.Skip("one iteration is the measurement")
	}
	opm, _ := filepath.Abs("../bin/opm")
	query, _ := filepath.Abs("../bin/catalogquery")
	for _, p := range []string{opm, query} {
		if _, err := os.Stat(p); err != nil {
			b.Fatalf("%s not found; fix: make tools", p)
		}
	}
	ctx := context.Background()
	reg := testenv.Start(b, testenv.RegistryOptions{})
	g := fixture.BigCatalog{Packages: 50, Bundles: 100, Skips: 90, Channels: 3, Host: reg.Host}
	g.ObjectBytes = envInt("OCM_BENCH_CATALOG_MB", 500) << 20 / (g.Packages * g.Bundles)
	dir := b.TempDir()
	lay := filepath.Join(dir, "catalog")
	st, err := g.WriteOCILayout(lay)
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "heads.yaml"), []byte(fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: oci://%s\n    targetCatalog: ocm/big-index\n", lay)), 0o644)
	run(b, dir, "ocm-plan -c heads.yaml --cache cache --loglevel error > heads.jsonl")
	// The rebuilt catalog's configs, from the cache.
	recs, err := os.ReadFile(filepath.Join(dir, "heads.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	all, err := record.ReadAll(strings.NewReader(string(recs)), "heads.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var cat *record.Record
	for _, r := range all {
		if r.Origin == record.OriginCatalog {
			cat = r
		}
	}
	if cat == nil || cat.BuiltFrom == "" {
		b.Fatalf("no rebuilt catalog planned")
	}
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		b.Fatal(err)
	}
	img, err := imagefs.Resolve(ctx, c, cat.Digest, "")
	if err != nil {
		b.Fatal(err)
	}
	files, err := imagefs.ReadFiles(ctx, c, img, []string{"configs"}, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	var rebuiltBytes int64
	for f, body := range files {
		p := filepath.Join(dir, "rebuilt", f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		rebuiltBytes += int64(len(body))
	}
	files = nil
	// The original catalog's configs, its layer untarred.
	orig := filepath.Join(dir, "original")
	os.MkdirAll(orig, 0o755)
	bash(b, dir, "tar -xzf "+filepath.Join(lay, "blobs", "sha256", strings.TrimPrefix(st.LayerDigest, "sha256:"))+" -C "+orig)

	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %8s %-14s %10s %8s\n", "catalog", "FBC MB", "serve cache", "1st answer", "RSS MiB")
	for _, cs := range []struct {
		name, configs string
		bytes         int64
	}{
		{"rebuilt (50 heads)", filepath.Join(dir, "rebuilt", "configs"), rebuiltBytes},
		{"original (5,000)", filepath.Join(orig, "configs"), st.FBCBytes},
	} {
		cacheDir := filepath.Join(b.TempDir(), "cache")
		d, rss := serve(b, opm, query, cs.configs, "")
		fmt.Fprintf(&table, "%-22s %8d %-14s %10.1f %8d\n", cs.name, cs.bytes>>20, "built at start", d.Seconds(), rss>>10)
		start := time.Now()
		if out, err := exec.Command(opm, "serve", cs.configs, "--cache-dir="+cacheDir, "--cache-only").CombinedOutput(); err != nil {
			b.Fatalf("opm serve --cache-only: %v\n%s", err, out)
		}
		built := time.Since(start)
		d, rss = serve(b, opm, query, cs.configs, cacheDir)
		fmt.Fprintf(&table, "%-22s %8d %-14s %10.1f %8d   (--cache-only took %.1f s)\n", cs.name, cs.bytes>>20, "pre-built", d.Seconds(), rss>>10, built.Seconds())
	}
	b.Logf("opm serve, start to first full gRPC answer (ListPackages, every bundle):\n%s", table.String())
}

// serve starts opm serve on configs (with --cache-dir=cacheDir when set,
// which makes opm refuse a cache it did not build from these files), waits
// for catalogquery's full answer and returns the time to it and opm's peak
// RSS (KiB, VmHWM: opm's own, counted from its exec).
func serve(b *testing.B, opm, query, configs, cacheDir string) (time.Duration, int64) {
	b.Helper()
	l, port := freeTCP(b)
	l.Close()
	pl, pport := freeTCP(b)
	pl.Close()
	args := []string{"serve", configs, "--port=" + strconv.Itoa(port), "--pprof-addr=127.0.0.1:" + strconv.Itoa(pport), "--termination-log=" + filepath.Join(b.TempDir(), "log")}
	if cacheDir != "" {
		args = append(args, "--cache-dir="+cacheDir)
	}
	cmd := exec.Command(opm, args...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	out, err := exec.Command(query, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--wait", "10m").Output()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("catalogquery: %v\nopm's log:\n%s", err, log.String())
	}
	if !strings.Contains(string(out), `"bundles":[{`) {
		b.Fatalf("served nothing: %.500s", out)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return d, kb
		}
	}
	b.Fatal("no VmHWM")
	return 0, 0
}

func freeTCP(b *testing.B) (net.Listener, int) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return l, l.Addr().(*net.TCPAddr).Port
}
