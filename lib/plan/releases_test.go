package plan

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/cincinnati"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestReleaseRequestsBoundedByWorkers: planning several releases never has
// more registry requests in flight than Workers, payload reads and
// component descriptions together.
func TestReleaseRequestsBoundedByWorkers(t *testing.T) {
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	var armed atomic.Bool
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond) // so that requests overlap
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	rs, err := fixture.ReleaseSet(ctx, fixture.Options{Host: host, Insecure: true, LayerSize: 256}, fixture.ReleaseOptions{Components: 24})
	if err != nil {
		t.Fatal(err)
	}
	var sel []cincinnati.Selected
	for _, v := range []string{"4.15.0", "4.15.1", "4.15.2", "4.15.3"} {
		sel = append(sel, cincinnati.Selected{Node: cincinnati.Node{Version: v, Payload: host + "/" + fixture.PayloadRepo + "@" + rs.Payloads[v+"/amd64"]}})
	}
	const workers = 3
	p := &Planner{Client: registry.New(registry.Options{}), Log: logging.New("test", logging.Error, io.Discard), Workers: workers}
	armed.Store(true)
	recs, err := p.releaseRecords(ctx, sel, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < len(sel)*25 {
		t.Errorf("%d records, want at least %d (payload and components of each release)", len(recs), len(sel)*25)
	}
	if got := peak.Load(); got > workers || got < 2 {
		t.Errorf("%d requests in flight at most, want 2..%d", got, workers)
	}
}
