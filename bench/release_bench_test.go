package bench

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// BenchmarkPlanReleases plans two chained channels of 20 releases each
// (full: true, 40 releases) with 200 components per release against a local
// registry, update graph and signature store, and reports the plan time
// with release signatures fetched and verified ("signed") and without
// (--ignore-release-signature, "unsigned"): the difference is what
// signatures add to planning.
func BenchmarkPlanReleases(b *testing.B) {
	per := envInt("OCM_BENCH_RELEASES_PER_CHANNEL", 20)
	comps := envInt("OCM_BENCH_COMPONENTS", 200)
	src := testenv.Start(b, testenv.RegistryOptions{})
	start := time.Now()
	rs, err := fixture.ReleaseSet(context.Background(), fixture.Options{Host: src.Host, LayerSize: 512}, fixture.ReleaseOptions{Components: comps, PerChannel: per})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: %d releases, %d components each, built in %s", len(rs.Versions), comps, time.Since(start).Round(time.Second))
	srv := httptest.NewServer(rs)
	defer srv.Close()
	dir := b.TempDir()
	isc := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    channels:\n    - name: stable-4.14\n      full: true\n    - name: stable-4.15\n      full: true\n"
	os.WriteFile(filepath.Join(dir, "isc.yaml"), []byte(isc), 0o644)
	pub, err := rs.Signer.PublicKey()
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "key.asc"), pub, 0o644)
	b.Setenv("UPDATE_URL_OVERRIDE", srv.URL)
	b.Setenv("OCP_SIGNATURE_URL", srv.URL+fixture.SignaturesPath)
	b.Setenv("OCP_SIGNATURE_VERIFICATION_PK", filepath.Join(dir, "key.asc"))
	for _, v := range []struct{ name, flag string }{{"unsigned", "--ignore-release-signature"}, {"signed", ""}} {
		b.Run(v.name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += bash(b, dir, "ocm-plan -c isc.yaml --loglevel error "+v.flag+" > plan.jsonl")
			}
			b.StopTimer()
			out, _ := os.ReadFile(filepath.Join(dir, "plan.jsonl"))
			n := strings.Count(string(out), "\n")
			signed := strings.Count(string(out), `"signatures":[`)
			b.ReportMetric(total.Seconds()/float64(b.N), "plan-seconds")
			b.ReportMetric(float64(n), "records")
			b.Logf("plan of %d releases, %s: %d records (%d with signatures) in %.2fs", len(rs.Versions), v.name, n, signed, total.Seconds()/float64(b.N))
		})
	}
}
