package plan

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestI25SparsePlanned: an additional image with platforms is planned
// sparse, its record naming the platforms of the index copied (a variant
// chosen by os/arch); an index with none of them fails with the ones it
// has; a single manifest, or --no-sparse, is planned whole.
func TestI25SparsePlanned(t *testing.T) {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}} {
		img, _ := random.Image(256, 1)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	ref, _ := name.ParseReference(host + "/app/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(256, 1)
	ref, _ = name.ParseReference(host + "/app/single:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	all := []string{"linux/amd64", "linux/arm64/v8", "linux/s390x"}
	for _, tc := range []struct {
		name      string
		image     string
		platforms []string
		noSparse  bool
		sparse    bool
		want      []string
		err       string
	}{
		{"sparse", "app/multi:1", []string{"linux/arm64", "linux/s390x"}, false, true, []string{"linux/arm64/v8", "linux/s390x"}, ""},
		{"none matched", "app/multi:1", []string{"linux/ppc64le"}, false, true, nil, "none of the platforms linux/ppc64le (it has linux/amd64, linux/arm64/v8, linux/s390x); fix: "},
		{"single manifest", "app/single:1", []string{"linux/arm64"}, false, false, nil, ""},
		{"no-sparse", "app/multi:1", []string{"linux/arm64"}, true, false, all, ""},
		{"no platforms", "app/multi:1", nil, false, false, all, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Kind: config.KindImageSet}
			cfg.Spec.AdditionalImages = []config.Image{{Name: host + "/" + tc.image, Platforms: tc.platforms}}
			p := &Planner{Client: registry.New(registry.Options{}), Log: logging.New("test", logging.Error, io.Discard), NoSparse: tc.noSparse}
			recs, err := p.Plan(context.Background(), cfg)
			if err != nil || len(recs) != 1 {
				t.Fatalf("%d records, %v", len(recs), err)
			}
			r := recs[0]
			if tc.err != "" {
				if r.Status != record.StatusFailed || !strings.Contains(r.Error, tc.err) {
					t.Fatalf("record %s %q, want failed with %q", r.Status, r.Error, tc.err)
				}
				return
			}
			if r.Status != record.StatusPlanned || r.Sparse != tc.sparse || !reflect.DeepEqual(r.Platforms, tc.want) {
				t.Errorf("record %s sparse %v platforms %v, want planned sparse %v platforms %v", r.Status, r.Sparse, r.Platforms, tc.sparse, tc.want)
			}
		})
	}
}
