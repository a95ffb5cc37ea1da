package bench

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/fixture"
	"github.com/ocm-mirror/ocm/lib/testenv"
)

// BenchmarkPlanReleases plans two chained channels of 20 releases each
// (full: true, 40 releases) with 200 components per release against a local
// registry and update graph, and reports the plan time.
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
	b.Setenv("UPDATE_URL_OVERRIDE", srv.URL)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		total += bash(b, dir, "ocm-plan -c isc.yaml --loglevel error > plan.jsonl")
	}
	b.StopTimer()
	out, _ := os.ReadFile(filepath.Join(dir, "plan.jsonl"))
	n := strings.Count(string(out), "\n")
	b.ReportMetric(total.Seconds()/float64(b.N), "plan-seconds")
	b.ReportMetric(float64(n), "records")
	b.Logf("plan of %d releases: %d records in %.2fs", len(rs.Versions), n, total.Seconds()/float64(b.N))
}
