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
	"github.com/ocm-mirror/ocm/lib/releasesig"
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

// TestN10GraphCannotRelabelARelease: the update graph is not signed, so a
// hostile one could name the 4.15.3 payload 4.16.9. The version the
// payload's own release-metadata carries, and the tag its signatures name,
// must be the one the graph gives; otherwise the release is refused with
// one line naming both.
func TestN10GraphCannotRelabelARelease(t *testing.T) {
	reg := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ctx := context.Background()
	rs, err := fixture.ReleaseSet(ctx, fixture.Options{Host: host, Insecure: true, LayerSize: 256}, fixture.ReleaseOptions{Components: 2})
	if err != nil {
		t.Fatal(err)
	}
	store := httptest.NewServer(rs)
	defer store.Close()
	sigs, err := releasesig.NewStore(store.URL + fixture.SignaturesPath)
	if err != nil {
		t.Fatal(err)
	}
	sigs.HTTP = store.Client()
	pub, _ := rs.Signer.PublicKey()
	keys, err := releasesig.ParseKeyring(pub, "test key")
	if err != nil {
		t.Fatal(err)
	}
	payload := func(v string) string { return rs.Payloads[v+"/amd64"] }
	// 4.15.2's payload signed by the trusted key as if it were 4.16.9.
	resigned, err := rs.Signer.Sign(host+"/"+fixture.PayloadRepo+":4.16.9-x86_64", payload("4.15.2"))
	if err != nil {
		t.Fatal(err)
	}
	rs.Signatures[payload("4.15.2")] = [][]byte{resigned}
	for _, c := range []struct {
		name, version, payload string
		verify                 bool
		want                   string // in the error; "" planned
	}{
		{"graph relabels 4.15.3 as 4.16.9", "4.16.9", payload("4.15.3"), true,
			"release 4.16.9 (" + payload("4.15.3") + "): the update graph names this payload 4.16.9, but the payload is release \"4.15.3\" (release-manifests/release-metadata); fix: check the update graph"},
		{"relabelled, signatures not verified", "4.16.9", payload("4.15.3"), false, "but the payload is release \"4.15.3\""},
		{"relabelled as an older release", "4.14.0", payload("4.15.3"), true, "the update graph names this payload 4.14.0, but the payload is release \"4.15.3\""},
		{"signature names another release", "4.15.2", payload("4.15.2"), true,
			"release 4.15.2 (" + payload("4.15.2") + "): its signature names " + host + "/" + fixture.PayloadRepo + ":4.16.9-x86_64 (tag 4.16.9-x86_64), another release; fix:"},
		{"as the payload says", "4.15.3", payload("4.15.3"), true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Planner{Client: registry.New(registry.Options{}), Log: logging.New("test", logging.Error, io.Discard), Workers: 2}
			if c.verify {
				p.Signatures = &releasesig.Verifier{Store: sigs, Keys: keys}
			}
			sel := []cincinnati.Selected{{Node: cincinnati.Node{Version: c.version, Payload: host + "/" + fixture.PayloadRepo + "@" + c.payload}}}
			recs, err := p.releaseRecords(ctx, sel, "x86_64")
			if c.want == "" {
				if err != nil || len(recs) == 0 || recs[0].Release != c.version {
					t.Fatalf("%v, %d records", err, len(recs))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v; want one line with %q", err, c.want)
			}
		})
	}
}
