package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/record"
)

func TestF6ClaimsAndContested(t *testing.T) {
	rec := func(src, dest, digest string, st record.Status) *record.Record {
		return &record.Record{Source: src, Destination: dest, Digest: digest, Status: st}
	}
	const a, b = "sha256:aa", "sha256:bb"
	cases := []struct {
		name string
		recs []*record.Record
		err  string // "" : no collision
	}{
		{"different destinations", []*record.Record{rec("q.io/x:1", "x:1", a, record.StatusPlanned), rec("q.io/y:1", "y:1", b, record.StatusPlanned)}, ""},
		{"same image from two registries", []*record.Record{rec("q.io/x:1", "x:1", a, record.StatusPlanned), rec("r.io/x:1", "x:1", a, record.StatusPlanned)}, ""},
		{"two images, one destination", []*record.Record{rec("q.io/x:1", "x:1", a, record.StatusPlanned), rec("r.io/x:1", "x:1", b, record.StatusPlanned)}, "q.io/x:1 (sha256:aa) and r.io/x:1 (sha256:bb) both map to x:1"},
		{"a skipped image claims nothing", []*record.Record{rec("q.io/x:1", "x:1", a, record.StatusSkipped), rec("r.io/x:1", "x:1", b, record.StatusPlanned)}, ""},
		{"a failed image claims nothing", []*record.Record{rec("q.io/x:1", "x:1", "", record.StatusFailed), rec("r.io/x:1", "x:1", b, record.StatusPlanned)}, ""},
	}
	for _, c := range cases {
		var err error
		cl := claims{}
		for _, r := range c.recs {
			if err = cl.add(r); err != nil {
				break
			}
		}
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (!errors.Is(err, ErrCollision) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err = %v, want ErrCollision naming %q", c.name, err, c.err)
		}
	}

	known := []*record.Record{rec("q.io/op/rel@sha256:1", "op/rel:sha256-1", a, record.StatusPlanned)}
	add := []*record.Record{
		rec("q.io/solo:1", "", "", record.StatusPlanned),
		rec("q.io/x:1", "", "", record.StatusPlanned),
		rec("r.io/x:1", "", "", record.StatusPlanned),
		rec("q.io/op/rel:sha256-1", "", "", record.StatusPlanned),
	}
	var got []string
	for _, r := range contested(known, add) {
		got = append(got, r.Source)
	}
	if want := "q.io/x:1 r.io/x:1 q.io/op/rel:sha256-1"; strings.Join(got, " ") != want {
		t.Errorf("contested = %v, want %s", got, want)
	}
}
