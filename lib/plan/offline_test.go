package plan

import (
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
