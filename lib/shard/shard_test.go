package shard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
)

func TestParse(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvIndex {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		flag    string
		shards  int
		env     string
		want    Spec
		wantErr bool
	}{
		{want: Spec{}},
		{flag: "0/3", want: Spec{0, 3}},
		{flag: "2/3", want: Spec{2, 3}},
		{flag: "3/3", wantErr: true},
		{flag: "-1/3", wantErr: true},
		{flag: "1", wantErr: true},
		{flag: "a/b", wantErr: true},
		{flag: "0/0", wantErr: true},
		{shards: 3, env: "1", want: Spec{1, 3}},
		{shards: 3, env: "", wantErr: true},
		{shards: 3, env: "3", wantErr: true},
		{shards: -1, wantErr: true},
		{flag: "0/3", shards: 3, env: "0", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.flag, tt.shards, env(tt.env))
		if tt.wantErr {
			if !errors.Is(err, ErrSpec) {
				t.Errorf("Parse(%q, %d, %q) = %v, %v; want ErrSpec", tt.flag, tt.shards, tt.env, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q, %d, %q) = %v, %v; want %v", tt.flag, tt.shards, tt.env, got, err, tt.want)
		}
	}
}

// fakeBlobs serves each record's blobs from a table keyed by digest.
func fakeBlobs(m map[string][]manifest.Descriptor) Blobs {
	return func(_ context.Context, r *record.Record) ([]manifest.Descriptor, error) {
		d, ok := m[r.Digest]
		if !ok {
			return nil, fmt.Errorf("no manifest %s", r.Digest)
		}
		return d, nil
	}
}

func blob(d string, size int64) manifest.Descriptor {
	return manifest.Descriptor{Digest: d, Size: size}
}

func rec(digest string, mod func(*record.Record)) *record.Record {
	r := &record.Record{V: 1, Origin: record.OriginAdditional, Source: "src/" + digest, Digest: digest, Destination: digest + ":v1", Status: record.StatusPlanned}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestAssignKeepsSharersTogether(t *testing.T) {
	blobs := map[string][]manifest.Descriptor{
		"a":      {blob("a", 1), blob("base", 100), blob("la", 10)},
		"b":      {blob("b", 1), blob("base", 100), blob("lb", 10)},
		"c":      {blob("c", 1), blob("lc", 50)},
		"d":      {blob("d", 1), blob("lc2", 50)},
		"e":      {blob("e", 1), blob("lb", 10), blob("le", 5)}, // shares lb with b, so base with a too
		"f":      {blob("f", 1), blob("lf", 60)},
		"cat":    {blob("cat", 1), blob("lcat", 5)},
		"bundle": {blob("bundle", 1), blob("lbundle", 5)},
		"rel":    {blob("rel", 1), blob("lrel", 5)},
		"comp":   {blob("comp", 1), blob("lcomp", 5)},
	}
	cat := func(r *record.Record) { r.Catalog = "reg/catalog:v4.16" }
	rel := func(r *record.Record) { r.Release = "4.16.1" }
	recs := []*record.Record{
		rec("a", nil), rec("b", nil), rec("c", nil), rec("d", nil), rec("e", nil), rec("f", nil),
		rec("cat", cat), rec("bundle", cat),
		rec("failed", func(r *record.Record) { cat(r); r.Status = record.StatusFailed; r.Error = "x" }),
		rec("rel", rel), rec("comp", rel),
	}
	together := [][]int{{0, 1, 4}, {6, 7, 8}, {9, 10}}
	for _, n := range []int{1, 2, 3, 5} {
		var first []int
		for _, workers := range []int{1, 3, 8} {
			parts, err := Assign(context.Background(), recs, n, fakeBlobs(blobs), workers)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = parts
			} else if fmt.Sprint(parts) != fmt.Sprint(first) {
				t.Fatalf("n=%d: partition depends on workers: %v vs %v", n, parts, first)
			}
			for _, g := range together {
				for _, i := range g[1:] {
					if parts[i] != parts[g[0]] {
						t.Errorf("n=%d: records %v split: %v", n, g, parts)
					}
				}
			}
			for _, p := range parts {
				if p < 0 || p >= n {
					t.Fatalf("n=%d: part %d out of range", n, p)
				}
			}
			// No blob is in two parts.
			owner := map[string]int{}
			for i, r := range recs {
				for _, d := range blobs[r.Digest] {
					if o, ok := owner[d.Digest]; ok && o != parts[i] {
						t.Errorf("n=%d: blob %s in parts %d and %d", n, d.Digest, o, parts[i])
					}
					owner[d.Digest] = parts[i]
				}
			}
		}
		// With 3 parts the big group {a,b,e} (228 bytes) sits alone and the
		// 51- and 61-byte images are spread over the two other parts.
		if n == 3 {
			if first[2] == first[0] || first[5] == first[0] || first[2] == first[5] {
				t.Errorf("n=3: unbalanced partition %v", first)
			}
		}
	}
}

func TestAssignFailsOnUnreadableManifest(t *testing.T) {
	recs := []*record.Record{rec("a", nil), rec("missing", nil)}
	_, err := Assign(context.Background(), recs, 2, fakeBlobs(map[string][]manifest.Descriptor{"a": {blob("a", 1)}}), 2)
	if err == nil {
		t.Fatal("Assign guessed a partition without a manifest")
	}
}

func TestAssignPlacesMissingImages(t *testing.T) {
	cat := func(r *record.Record) { r.Catalog = "reg/catalog:v4.16" }
	recs := []*record.Record{rec("cat", cat), rec("gone", cat), rec("other", nil), rec("gone2", nil)}
	blobs := func(_ context.Context, r *record.Record) ([]manifest.Descriptor, error) {
		if strings.HasPrefix(r.Digest, "gone") {
			return nil, fmt.Errorf("%w: 404", ErrMissing)
		}
		return []manifest.Descriptor{blob(r.Digest, 10)}, nil
	}
	parts, err := Assign(context.Background(), recs, 2, blobs, 2)
	if err != nil {
		t.Fatalf("a missing image failed the split: %v", err)
	}
	if parts[0] != parts[1] {
		t.Errorf("a missing bundle image left its catalog's part: %v", parts)
	}
}

func TestSelectUnionIsTheInput(t *testing.T) {
	blobs := map[string][]manifest.Descriptor{}
	var recs []*record.Record
	for i := 0; i < 20; i++ {
		d := fmt.Sprintf("img%02d", i)
		blobs[d] = []manifest.Descriptor{blob(d, int64(i+1)), blob(fmt.Sprintf("shared%d", i%4), 7)}
		recs = append(recs, rec(d, nil))
	}
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		mine, err := Select(context.Background(), recs, Spec{Index: i, Count: 3}, fakeBlobs(blobs), 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mine {
			seen[r.Digest]++
		}
	}
	for _, r := range recs {
		if seen[r.Digest] != 1 {
			t.Errorf("%s selected %d times, want once", r.Digest, seen[r.Digest])
		}
	}
}

// N8: the outputs of a sharded run's parts, put together, must hold every
// record of the plan once. Parts run with different N, the same index twice,
// or an index left out are refused, naming what is missing or doubled;
// before, every such set was taken as it was (6 of 10 images covered).
func TestN8PartsMustCoverThePlan(t *testing.T) {
	blobs := map[string][]manifest.Descriptor{}
	var digests []string
	for i := range 10 {
		d := fmt.Sprintf("img%d", i)
		digests = append(digests, d)
		blobs[d] = []manifest.Descriptor{blob(d, int64(10+i)), blob("layer-"+d, int64(100*(i+1)))}
	}
	// part runs one pod: it reads the plan afresh and keeps part index of n.
	part := func(index, n int) []*record.Record {
		var plan []*record.Record
		for _, d := range digests {
			plan = append(plan, rec(d, nil))
		}
		out, err := Select(context.Background(), plan, Spec{Index: index, Count: n}, fakeBlobs(blobs), 2)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	join := func(parts ...[]*record.Record) []*record.Record {
		var all []*record.Record
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	other := rec("img0", func(r *record.Record) { r.Source = "src/other" })
	for _, tt := range []struct {
		name string
		recs []*record.Record
		want []string // all in the one line; none: complete
	}{
		{"every part once", join(part(0, 3), part(1, 3), part(2, 3)), nil},
		{"unsharded", []*record.Record{rec("img0", nil), rec("img1", nil)}, nil},
		{"one part alone is complete when N is 1", part(0, 1), nil},
		{"different N", join(part(0, 2), part(1, 3), part(2, 3)), []string{"parts split with different N (0/2, 1/3, 2/3)", "records ", " of 10 "}},
		{"same index twice", join(part(0, 3), part(0, 3), part(1, 3)), []string{"given more than once", "missing", "no output of part 2/3"}},
		{"index missing", join(part(0, 3), part(2, 3)), []string{"records ", " of 10 missing", "no output of part 1/3"}},
		{"unsharded record mixed in", join(part(0, 2), part(1, 2), []*record.Record{other}), []string{"1 records of no sharded run mixed in (src/other)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Complete(tt.recs)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused a complete set: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("got %v, want ErrIncomplete", err)
			}
			msg := err.Error()
			for _, w := range append(tt.want, "; fix: ") {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("not one line: %q", msg)
			}
		})
	}
}
