package selection

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/record"
)

const dgA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestBlocklist: plain names keep their exact meaning (repository, tag,
// digest); other entries are unanchored regexes matched against the source
// (transport stripped) and the destination, as oc-mirror 4.19+ does.
func TestBlocklist(t *testing.T) {
	b, err := NewBlocklist([]config.Image{
		{Name: "quay.io/ns/whole", Line: 5},
		{Name: "quay.io/ns/tagged:bad", Line: 6},
		{Name: "quay.io/ns/pinned@" + dgA, Line: 7},
		{Name: ".*/operands/gam+a", Pattern: true, Line: 8},
		{Name: "^custom/", Pattern: true, Line: 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		r    record.Record
		want string // substring of the reason; "" = not blocked
	}{
		{record.Record{Source: "quay.io/ns/whole:1"}, "repository quay.io/ns/whole"},
		{record.Record{Source: "quay.io/ns/wholesale:1"}, ""}, // exact, not a prefix
		{record.Record{Source: "quay.io/ns/tagged:bad"}, "quay.io/ns/tagged:bad is in"},
		{record.Record{Source: "quay.io/ns/tagged:good"}, ""},
		{record.Record{Source: "quay.io/ns/pinned:v1", Digest: dgA}, "quay.io/ns/pinned@" + dgA},
		{record.Record{Source: "docker://h:5000/x/operands/gamma@" + dgA}, `source matches ".*/operands/gam+a" (mirror.blockedImages, line 8)`},
		{record.Record{Source: "h:5000/x/operands/delta:1"}, ""},
		{record.Record{Source: "quay.io/a/b:1", Destination: "custom/b:1"}, "destination custom/b:1 matches \"^custom/\""},
		{record.Record{Source: "quay.io/custom/b:1", Destination: "custom2/b:1"}, ""}, // ^ anchors at the start only when written
	}
	for _, tc := range cases {
		got := b.MatchRecord(&tc.r)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s -> %s: %q, want %q", tc.r.Source, tc.r.Destination, got, tc.want)
		}
	}
}

// TestBlockedReleaseComponent: blocking any image of a release fails the
// whole release, naming it and the rule.
func TestBlockedReleaseComponent(t *testing.T) {
	b, _ := NewBlocklist([]config.Image{{Name: "art-dev@" + dgA, Pattern: true, Line: 3}})
	recs := []*record.Record{
		{Origin: record.OriginRelease, Source: "quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", Release: "4.15.3"},
		{Origin: record.OriginReleaseComponent, Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + dgA, Release: "4.15.3"},
	}
	if err := b.CheckReleases(recs[:1]); err != nil {
		t.Fatalf("unblocked release refused: %v", err)
	}
	err := b.CheckReleases(recs)
	if !errors.Is(err, ErrReleaseBlocked) || !strings.Contains(err.Error(), "release 4.15.3") || !strings.Contains(err.Error(), "whole or not at all") {
		t.Fatalf("err = %v", err)
	}
}
