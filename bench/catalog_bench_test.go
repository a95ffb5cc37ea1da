package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// memSource serves one image held in memory (imagefs.Source).
type memSource map[string][]byte

func (m memSource) Manifest(_ context.Context, d string) ([]byte, string, error) {
	return m[d], manifest.OCIManifest, nil
}
func (m memSource) Blob(_ context.Context, d string, _ int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(m[d])), nil
}

// bigCatalogImage builds a catalog image of pkgs packages with per bundles
// each (two channels), its config in one gzipped layer.
func bigCatalogImage(b *testing.B, pkgs, per int) (memSource, string) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for p := 0; p < pkgs; p++ {
		name := fmt.Sprintf("pkg-%04d", p)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.Encode(map[string]any{"schema": "olm.package", "name": name, "defaultChannel": "stable"})
		var stable, fast []map[string]any
		for i := 0; i < per; i++ {
			bn := fmt.Sprintf("%s.v1.%d.0", name, i)
			e := map[string]any{"name": bn}
			if i > 0 {
				e["replaces"] = fmt.Sprintf("%s.v1.%d.0", name, i-1)
			}
			stable = append(stable, e)
			if i >= per/2 {
				fast = append(fast, e)
			}
			img := fmt.Sprintf("registry.example.com/%s/bundle@sha256:%064x", name, p*per+i)
			enc.Encode(map[string]any{"schema": "olm.bundle", "name": bn, "package": name, "image": img,
				"properties":    []any{map[string]any{"type": "olm.package", "value": map[string]any{"packageName": name, "version": "1." + strconv.Itoa(i) + ".0"}}},
				"relatedImages": []any{map[string]any{"name": "op", "image": fmt.Sprintf("registry.example.com/%s/op@sha256:%064x", name, p*per+i)}}})
		}
		fast[0] = map[string]any{"name": fast[0]["name"]} // fast starts at its first entry
		enc.Encode(map[string]any{"schema": "olm.channel", "package": name, "name": "stable", "entries": stable})
		enc.Encode(map[string]any{"schema": "olm.channel", "package": name, "name": "fast", "entries": fast})
		tw.WriteHeader(&tar.Header{Name: "configs/" + name + "/catalog.json", Mode: 0o644, Size: int64(buf.Len()), Typeflag: tar.TypeReg})
		tw.Write(buf.Bytes())
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	m := memSource{}
	layer := verify.Digest(gz.Bytes())
	m[layer] = gz.Bytes()
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"operators.operatorframework.io.index.configs.v1":"/configs"}},"rootfs":{"type":"layers","diff_ids":["` + verify.Digest(tb.Bytes()) + `"]}}`)
	cd := verify.Digest(cfg)
	m[cd] = cfg
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": gz.Len()}}})
	md := verify.Digest(man)
	m[md] = man
	b.Logf("catalog: %d packages x %d bundles, %d MiB of config, %d MiB gzipped", pkgs, per, tb.Len()>>20, gz.Len()>>20)
	return m, md
}

// peakRSS reads the process's high-water resident set (KiB).
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkCatalogPlan reads, parses, filters (default-channel heads) and
// renders a 1,000-package, 50,000-bundle catalog from its image layer.
func BenchmarkCatalogPlan(b *testing.B) {
	src, digest := bigCatalogImage(b, envInt("OCM_BENCH_PACKAGES", 1000), envInt("OCM_BENCH_BUNDLES_PER_PACKAGE", 50))
	ctx := context.Background()
	start := peakRSS()
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		img, err := imagefs.Resolve(ctx, src, digest, "")
		if err != nil {
			b.Fatal(err)
		}
		files, err := imagefs.ReadFiles(ctx, src, img, []string{catalog.ConfigsDir(img)}, 1<<30)
		if err != nil {
			b.Fatal(err)
		}
		fbc, err := catalog.Parse(files)
		if err != nil {
			b.Fatal(err)
		}
		sel, err := fbc.Select(catalog.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fbc.Render(sel, "configs"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		if len(sel.Packages) != 1000 && envInt("OCM_BENCH_PACKAGES", 1000) == 1000 {
			b.Fatalf("%d packages selected", len(sel.Packages))
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "seconds/plan")
	b.ReportMetric(float64(peakRSS())/1024, "peak-RSS-MiB")
	b.Logf("read+parse+select+render: %.2fs per catalog; process peak RSS %d MiB (%d MiB before, including the in-memory image)", total.Seconds()/float64(b.N), peakRSS()>>10, start>>10)
}
