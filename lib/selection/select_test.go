package selection

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestSelectNamedRelease: an enclave configuration naming one release by
// digest or by tag keeps that release's payload and components only.
func TestSelectNamedRelease(t *testing.T) {
	d1, d2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	repo := "quay.io/openshift-release-dev/ocp-release"
	recs := []*record.Record{
		{Origin: record.OriginRelease, Source: repo + "@" + d1, Digest: d1, Tag: "4.16.0-rc.1-x86_64", Release: "4.16.0-rc.1"},
		{Origin: record.OriginReleaseComponent, Source: "quay.io/x/y@" + d2, Release: "4.16.0-rc.1"},
		{Origin: record.OriginRelease, Source: repo + "@" + d2, Digest: d2, Release: "4.15.3"},
		{Origin: record.OriginReleaseComponent, Source: "quay.io/x/z@" + d1, Release: "4.15.3"},
	}
	for _, c := range []struct{ release, want string }{
		{repo + ":4.16.0-rc.1-x86_64", "4.16.0-rc.1 4.16.0-rc.1"},
		{repo + "@" + d2, "4.15.3 4.15.3"},
		{"quay.io/other/repo@" + d2, ""},
		{repo + ":4.17.0-x86_64", ""},
	} {
		cfg := &config.Config{Spec: config.ImageSet{Platform: &config.Platform{Release: c.release}}}
		got, err := Select(cfg, recs)
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, r := range got {
			vs = append(vs, r.Release)
		}
		if strings.Join(vs, " ") != c.want {
			t.Errorf("%s: kept %v, want %s", c.release, vs, c.want)
		}
	}
}

// TestSelectBlocked: blockedImages apply offline to every origin, as in
// plan: blocked operator images come back skipped with the rule, blocked
// additional images are dropped, a blocked release component is an error.
func TestSelectBlocked(t *testing.T) {
	d1 := "sha256:" + strings.Repeat("1", 64)
	cat := "quay.io/ops/catalog:v1"
	recs := func() []*record.Record {
		return []*record.Record{
			{Origin: record.OriginCatalog, Source: cat, Catalog: cat, Destination: "ops/catalog:v1", Status: record.StatusCached},
			{Origin: record.OriginBundle, Source: "quay.io/ops/bundle@" + d1, Catalog: cat, Package: "foo", Status: record.StatusCached},
			{Origin: record.OriginRelated, Source: "quay.io/ops/agent:1.0", Catalog: cat, Package: "foo", Destination: "ops/agent:1.0", Status: record.StatusCached},
			{Origin: record.OriginAdditional, Source: "docker.io/library/alpine:3.20", Status: record.StatusCached},
			{Origin: record.OriginRelease, Source: "quay.io/openshift-release-dev/ocp-release@" + d1, Release: "4.16.1", Status: record.StatusCached},
			{Origin: record.OriginReleaseComponent, Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + d1, Release: "4.16.1", Status: record.StatusCached},
		}
	}
	base := config.ImageSet{
		Operators:        []config.Operator{{Catalog: cat}},
		AdditionalImages: []config.Image{{Name: "docker.io/library/alpine:3.20"}},
	}
	for _, c := range []struct {
		name     string
		blocked  []config.Image
		releases bool
		want     string // source status, kept records
		wantErr  error
	}{
		{"nothing blocked", nil, false, "quay.io/ops/catalog:v1 cached,quay.io/ops/bundle@" + d1 + " cached,quay.io/ops/agent:1.0 cached,docker.io/library/alpine:3.20 cached", nil},
		{"related by regex", []config.Image{{Name: "ops/agent:1\\.", Pattern: true, Line: 7}}, false, "quay.io/ops/catalog:v1 cached,quay.io/ops/bundle@" + d1 + " cached,quay.io/ops/agent:1.0 skipped,docker.io/library/alpine:3.20 cached", nil},
		{"bundle by repository, additional by tag", []config.Image{{Name: "quay.io/ops/bundle"}, {Name: "docker.io/library/alpine:3.20"}}, false, "quay.io/ops/catalog:v1 cached,quay.io/ops/bundle@" + d1 + " skipped,quay.io/ops/agent:1.0 cached", nil},
		{"release component", []config.Image{{Name: "ocp-v4.0-art-dev", Pattern: true, Line: 3}}, true, "", ErrReleaseBlocked},
		{"release component of a release not selected", []config.Image{{Name: "ocp-v4.0-art-dev", Pattern: true, Line: 3}}, false, "quay.io/ops/catalog:v1 cached,quay.io/ops/bundle@" + d1 + " cached,quay.io/ops/agent:1.0 cached,docker.io/library/alpine:3.20 cached", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := base
			spec.BlockedImages = c.blocked
			if c.releases {
				spec.Platform = &config.Platform{Channels: []config.PlatformChannel{{Name: "stable-4.16"}}}
			}
			got, err := Select(&config.Config{Spec: spec}, recs())
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			var s []string
			for _, r := range got {
				s = append(s, r.Source+" "+string(r.Status))
				if r.Status == record.StatusSkipped && !strings.Contains(r.Error, "blockedImages") {
					t.Errorf("%s skipped without the rule: %q", r.Source, r.Error)
				}
			}
			if strings.Join(s, ",") != c.want {
				t.Errorf("kept\n%s\nwant\n%s", strings.Join(s, ","), c.want)
			}
		})
	}
}
