// Package shard splits one plan's records into N parts that separate
// processes (the pods of a Kubernetes Indexed Job) push side by side. Every
// process computes the same partition from the same records, and images that
// share a blob land in the same part, so no blob is copied by two processes.
package shard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/workpool"
)

// EnvIndex is the variable Kubernetes sets in the pods of an Indexed Job.
const EnvIndex = "JOB_COMPLETION_INDEX"

// ErrSpec marks a bad --shard/--shards value or a bad EnvIndex.
var ErrSpec = errors.New("bad shard selection")

// ErrMissing, wrapped by a Blobs error, says the image is not at its source
// (404): every process sees the same, so the image still has a place (by
// its catalog or release, else alone) and the stage that gets it fails it.
var ErrMissing = errors.New("image not found")

// Spec selects part Index of Count (0 <= Index < Count). Count 0: no sharding.
type Spec struct{ Index, Count int }

// On reports whether records are to be split.
func (s Spec) On() bool { return s.Count > 0 }

func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Parse reads "--shard INDEX/N" (flag) or "--shards N" with the index in
// JOB_COMPLETION_INDEX (getenv). Both empty/zero: no sharding.
func Parse(flag string, shards int, getenv func(string) string) (Spec, error) {
	switch {
	case flag != "" && shards != 0:
		return Spec{}, fmt.Errorf("%w: --shard and --shards both given; fix: use --shard INDEX/N, or --shards N with %s set", ErrSpec, EnvIndex)
	case flag != "":
		i, n, ok := strings.Cut(flag, "/")
		if !ok {
			return Spec{}, fmt.Errorf("%w: --shard %q: want INDEX/N, e.g. 0/3", ErrSpec, flag)
		}
		return spec(i, n, "--shard "+flag)
	case shards < 0:
		return Spec{}, fmt.Errorf("%w: --shards %d: must be 1 or more", ErrSpec, shards)
	case shards > 0:
		v, ok := lookup(getenv, EnvIndex)
		if !ok {
			return Spec{}, fmt.Errorf("%w: --shards %d needs %s (set by a Kubernetes Indexed Job); fix: set it, or use --shard INDEX/%d", ErrSpec, shards, EnvIndex, shards)
		}
		return spec(v, strconv.Itoa(shards), EnvIndex+"="+v)
	}
	return Spec{}, nil
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := strings.TrimSpace(getenv(k))
	return v, v != ""
}

func spec(i, n, what string) (Spec, error) {
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return Spec{}, fmt.Errorf("%w: %s: the index must be a whole number from 0 to N-1 and N at least 1", ErrSpec, what)
	}
	return Spec{Index: idx, Count: cnt}, nil
}

// Blobs returns what an image copies: its manifests (for an index, the
// children too) and the blobs they name. ocm-push and ocm-fetch read them from
// their cache or the source registry.
type Blobs func(ctx context.Context, r *record.Record) ([]manifest.Descriptor, error)

// Assign returns, for every record, the part (0..n-1) it belongs to. The
// partition depends only on the records (in order) and on what blobs returns
// for them: images sharing a blob, an operator catalog with its bundles and
// related images (ocm-push rebuilds a catalog from its bundles' outcome), and
// the images of one release (all or nothing) form one group; groups go,
// largest first, to the part with the fewest bytes so far.
//
// Records already done (failed, skipped) copy nothing and are not looked up;
// nor can images gone from their source (ErrMissing). Any other failed
// lookup (after the client's retries) fails Assign: a process that guessed
// would compute a partition the others do not, and an image could be pushed
// twice or never.
func Assign(ctx context.Context, recs []*record.Record, n int, blobs Blobs, workers int) ([]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d parts", ErrSpec, n)
	}
	descs, err := lookupAll(ctx, recs, blobs, workers)
	if err != nil {
		return nil, err
	}
	u := newUnion(len(recs))
	keyOwner := map[string]int{} // union key -> first record holding it
	join := func(i int, key string) {
		if j, ok := keyOwner[key]; ok {
			u.union(i, j)
		} else {
			keyOwner[key] = i
		}
	}
	for i, r := range recs {
		if r.Catalog != "" {
			join(i, "catalog\x00"+r.Catalog)
		}
		if r.Release != "" {
			join(i, "release\x00"+r.Release)
		}
		if r.Done() {
			continue
		}
		join(i, "image\x00"+r.Digest)
		for _, d := range descs[i] {
			join(i, "blob\x00"+d.Digest)
		}
	}
	// Group sizes count each blob once, as a run copies it once.
	type group struct {
		first int // lowest record index: a stable tie-break
		bytes int64
		seen  map[string]bool
		recs  []int
	}
	groups := map[int]*group{}
	var order []*group
	for i := range recs {
		root := u.find(i)
		g := groups[root]
		if g == nil {
			g = &group{first: i, seen: map[string]bool{}}
			groups[root] = g
			order = append(order, g)
		}
		g.recs = append(g.recs, i)
		for _, d := range descs[i] {
			if !g.seen[d.Digest] {
				g.seen[d.Digest] = true
				g.bytes += d.Size
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		if order[a].bytes != order[b].bytes {
			return order[a].bytes > order[b].bytes
		}
		return order[a].first < order[b].first
	})
	load := make([]int64, n)
	count := make([]int, n)
	out := make([]int, len(recs))
	for _, g := range order {
		best := 0
		for p := 1; p < n; p++ {
			if load[p] < load[best] || (load[p] == load[best] && count[p] < count[best]) {
				best = p
			}
		}
		load[best] += g.bytes
		count[best] += len(g.recs)
		for _, i := range g.recs {
			out[i] = best
		}
	}
	return out, nil
}

// Select keeps the records of part s.Index, in their order.
func Select(ctx context.Context, recs []*record.Record, s Spec, blobs Blobs, workers int) ([]*record.Record, error) {
	if !s.On() {
		return recs, nil
	}
	parts, err := Assign(ctx, recs, s.Count, blobs, workers)
	if err != nil {
		return nil, err
	}
	plan, err := PlanDigest(recs)
	if err != nil {
		return nil, err
	}
	var out []*record.Record
	for i, r := range recs {
		if parts[i] == s.Index {
			r.Shard = &record.Part{Plan: plan, Index: s.Index, Count: s.Count, Record: i + 1, Records: len(recs)}
			out = append(out, r)
		}
	}
	return out, nil
}

// PlanDigest identifies the records every part read: the sha256 of their
// lines as ocm writes them, without an earlier split's shard fields (a new
// split replaces them). It clears those fields.
func PlanDigest(recs []*record.Record) (string, error) {
	h := sha256.New()
	for _, r := range recs {
		r.Shard = nil
		b, err := json.Marshal(r)
		if err != nil {
			return "", err
		}
		h.Write(append(b, '\n'))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ErrIncomplete is wrapped by Complete's error: the outputs given are not
// every part of one split exactly once.
var ErrIncomplete = errors.New("shard outputs do not cover the plan exactly once")

// Complete checks that the records, the outputs of a sharded run's parts put
// together, hold every record of the plan exactly once, from parts of one
// split (same plan, same N). Records of no sharded run: nothing to check.
// The error is one line naming what is missing, doubled or mixed.
func Complete(recs []*record.Record) error {
	var plain []string
	plans := map[string]int{} // plan digest -> its record count
	counts := map[int][]int{} // N -> the part indexes seen with it
	partSeen := map[[2]int]bool{}
	seen := map[string]map[int]int{} // plan -> record number -> times seen
	for _, r := range recs {
		p := r.Shard
		if p == nil {
			plain = append(plain, r.Name())
			continue
		}
		plans[p.Plan] = p.Records
		if !partSeen[[2]int{p.Index, p.Count}] {
			partSeen[[2]int{p.Index, p.Count}] = true
			counts[p.Count] = append(counts[p.Count], p.Index)
		}
		if seen[p.Plan] == nil {
			seen[p.Plan] = map[int]int{}
		}
		seen[p.Plan][p.Record]++
	}
	if len(plans) == 0 {
		return nil
	}
	var probs []string
	if len(plain) > 0 {
		probs = append(probs, fmt.Sprintf("%d records of no sharded run mixed in (%s)", len(plain), list(plain)))
	}
	if len(plans) > 1 {
		probs = append(probs, fmt.Sprintf("parts of %d different plans", len(plans)))
	}
	if len(counts) > 1 {
		var ps []string
		for n, idx := range counts {
			for _, i := range idx {
				ps = append(ps, fmt.Sprintf("%d/%d", i, n))
			}
		}
		sort.Strings(ps)
		probs = append(probs, "parts split with different N ("+strings.Join(ps, ", ")+")")
	}
	for _, plan := range sortedKeys(plans) {
		n := plans[plan]
		var missing, twice []string
		for i := 1; i <= n; i++ {
			switch c := seen[plan][i]; {
			case c == 0:
				missing = append(missing, strconv.Itoa(i))
			case c > 1:
				twice = append(twice, strconv.Itoa(i))
			}
		}
		of := ""
		if len(plans) > 1 {
			of = " of plan " + plan
		}
		if len(missing) > 0 {
			probs = append(probs, fmt.Sprintf("records %s of %d%s missing", list(missing), n, of))
		}
		if len(twice) > 0 {
			probs = append(probs, fmt.Sprintf("records %s of %d%s given more than once", list(twice), n, of))
		}
	}
	if len(counts) == 1 {
		for n, idx := range counts {
			var absent []string
			have := map[int]bool{}
			for _, i := range idx {
				have[i] = true
			}
			for i := 0; i < n; i++ {
				if !have[i] {
					absent = append(absent, fmt.Sprintf("%d/%d", i, n))
				}
			}
			if len(absent) > 0 && len(probs) > 0 {
				probs = append(probs, "no output of part "+strings.Join(absent, ", "))
			}
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; fix: give every part's output once, from pods that ran the same plan.jsonl with the same --shards N (or --shard INDEX/N), each index 0 to N-1 once, and rerun a part that is missing", ErrIncomplete, strings.Join(probs, "; "))
}

// list names at most 5 items, then how many more.
func list(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lookupAll calls blobs for the records still to copy, a few at a time.
func lookupAll(ctx context.Context, recs []*record.Record, blobs Blobs, workers int) ([][]manifest.Descriptor, error) {
	if workers < 1 {
		workers = 1
	}
	out := make([][]manifest.Descriptor, len(recs))
	err := workpool.Run(ctx, len(recs), workers, func(ctx context.Context, i int) error {
		if recs[i].Done() {
			return nil
		}
		var err error
		out[i], err = blobs(ctx, recs[i])
		if errors.Is(err, ErrMissing) {
			out[i], err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("sharding needs every image's manifest, and %s's could not be read: %w; fix: rerun when the source answers (every shard must see the same images to agree on the split)", recs[i].Name(), err)
		}
		return nil
	})
	return out, err
}

type union struct{ parent []int }

func newUnion(n int) *union {
	u := &union{parent: make([]int, n)}
	for i := range u.parent {
		u.parent[i] = i
	}
	return u
}

func (u *union) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

// union keeps the lower index as root, so roots do not depend on call order.
func (u *union) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
}
