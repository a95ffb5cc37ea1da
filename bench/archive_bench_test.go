package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
)

var maxRSS = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// timed runs a shell script under /usr/bin/time -v and returns wall time
// and peak RSS in KiB.
func timed(b *testing.B, dir, script string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command("/usr/bin/time", "-v", "bash", "-c", "set -o pipefail; "+script)
	cmd.Dir, cmd.Env = dir, env()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
	m := maxRSS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no RSS in /usr/bin/time output:\n%s", out)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return d, kb
}

// bigCache writes a cache holding one image with a single layer of n bytes.
func bigCache(b *testing.B, dir string, n int64) *record.Record {
	b.Helper()
	c, err := cache.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	tmp := filepath.Join(dir, "layer.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.CopyN(io.MultiWriter(f, h), src, n); err != nil {
		b.Fatal(err)
	}
	f.Close()
	layer := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp, c.BlobPath(layer)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cfg, _ := c.PutBytes(ctx, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+layer+`"]}}`))
	_, cfgN := c.Has(cfg)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfgN},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": n}},
	})
	md, _ := c.PutBytes(ctx, m)
	return &record.Record{V: 1, Origin: record.OriginAdditional, Source: "bench.example.com/big/blob:1", Digest: md,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(m)), Destination: "big/blob:1", Status: record.StatusCached}
}

// BenchmarkPackUnpackLargeBlob packs and unpacks one image with a 2 GiB
// layer (OCM_BENCH_BLOB_BYTES), beside tar cf / tar xf of the same bytes,
// and reports rates, ratios and peak RSS (which must stay under 150 MiB).
func BenchmarkPackUnpackLargeBlob(b *testing.B) {
	n := int64(envInt("OCM_BENCH_BLOB_BYTES", 2<<30))
	dir := b.TempDir()
	rec := bigCache(b, filepath.Join(dir, "cache"), n)
	var buf strings.Builder
	record.NewWriter(&buf).Write(rec)
	os.WriteFile(filepath.Join(dir, "rec.jsonl"), []byte(buf.String()), 0o644)
	var pack, unpack, tarC, tarX time.Duration
	var packRSS, unpackRSS int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := fmt.Sprintf("r%d", i)
		d, rss := timed(b, dir, fmt.Sprintf("ocm-pack --loglevel error --cache cache --out %s/arch < rec.jsonl > /dev/null", run))
		pack += d
		packRSS = max(packRSS, rss)
		d, _ = timed(b, dir, fmt.Sprintf("mkdir -p %s/tar && tar cf %s/tar/all.tar -C cache blobs", run, run))
		tarC += d
		d, rss = timed(b, dir, fmt.Sprintf("ocm-unpack --loglevel error %s/arch --cache %s/far > /dev/null", run, run))
		unpack += d
		unpackRSS = max(unpackRSS, rss)
		d, _ = timed(b, dir, fmt.Sprintf("mkdir -p %s/x && tar xf %s/tar/all.tar -C %s/x", run, run, run))
		tarX += d
		b.StopTimer()
		os.RemoveAll(filepath.Join(dir, run))
		b.StartTimer()
	}
	mb := float64(n) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/pack.Seconds(), "pack-MB/s")
	b.ReportMetric(mb/unpack.Seconds(), "unpack-MB/s")
	b.ReportMetric(pack.Seconds()/tarC.Seconds(), "pack/tar-cf-time")
	b.ReportMetric(unpack.Seconds()/tarX.Seconds(), "unpack/tar-xf-time")
	b.ReportMetric(float64(packRSS)/1024, "pack-peak-RSS-MiB")
	b.ReportMetric(float64(unpackRSS)/1024, "unpack-peak-RSS-MiB")
	b.Logf("%.0f MiB blob: pack %.0f MB/s (tar cf %.0f MB/s), unpack %.0f MB/s (tar xf %.0f MB/s); peak RSS pack %d MiB, unpack %d MiB",
		float64(n)/(1<<20), mb/pack.Seconds(), mb/tarC.Seconds(), mb/unpack.Seconds(), mb/tarX.Seconds(), packRSS/1024, unpackRSS/1024)
	if packRSS > 150<<10 || unpackRSS > 150<<10 {
		b.Errorf("peak RSS over 150 MiB: pack %d KiB, unpack %d KiB", packRSS, unpackRSS)
	}
}
