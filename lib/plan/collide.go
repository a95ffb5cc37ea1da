package plan

import (
	"errors"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// ErrCollision: two different images would land on one destination in the
// mirror, which would keep only the last one pushed. It is a configuration
// problem: the caller exits as for bad input.
var ErrCollision = errors.New("destination collision")

// claims remembers which image each destination holds. Records with the same
// digest may share a destination (a related image named by two bundles, an
// image listed by tag and by tag@digest, the same image from two registries):
// the mirror then holds the right image for each of them.
type claims map[string]*record.Record

func (c claims) add(r *record.Record) error {
	if r.Done() || r.Digest == "" || r.Destination == "" {
		return nil
	}
	prev := c[r.Destination]
	if prev == nil {
		c[r.Destination] = r
		return nil
	}
	if prev.Digest == r.Digest {
		return nil
	}
	return fmt.Errorf("%w: %s (%s) and %s (%s) both map to %s in the mirror, which can hold only one of them; fix: keep one of them in this image set and mirror the other with a separate plan to another docker://HOST/PREFIX",
		ErrCollision, prev.Name(), prev.Digest, r.Name(), r.Digest, r.Destination)
}

// contested returns the additional images whose destination (known from
// the source alone) another record or additional image also claims: they
// are resolved before anything is emitted, so that a collision stops the
// plan whole instead of after the first image went downstream.
func contested(known, add []*record.Record) []*record.Record {
	count := map[string]int{}
	for _, r := range known {
		if r.Destination != "" && !r.Done() {
			count[r.Destination]++
		}
	}
	dests := make([]string, len(add))
	for i, r := range add {
		if r.Destination != "" { // targetRepo/targetTag
			dests[i] = r.Destination
			count[dests[i]]++
		} else if d, err := refs.Destination(r.Source); err == nil {
			dests[i] = d.String()
			count[dests[i]]++
		}
	}
	var out []*record.Record
	for i, r := range add {
		if dests[i] != "" && count[dests[i]] > 1 {
			out = append(out, r)
		}
	}
	return out
}
