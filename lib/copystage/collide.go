package copystage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// ErrCollision: a record is bound for a mirror target that an earlier record
// of the input holds with another image. Plan catches equal destinations;
// push decides the final repository (--max-nested-paths folds a/b-c and
// a/b/c into one), so it checks again.
var ErrCollision = errors.New("destination collision")

// targets remembers, in input order, which image each mirror target gets.
type targets struct {
	mu      sync.Mutex
	holder  map[string]*record.Record // repo:tag -> first record bound there
	refused map[*record.Record]error
}

// claim notes r's target; a later record with another digest is refused.
// Records with the same digest share a target: it holds the right image for
// each of them.
func (s *Stage) claim(r *record.Record) {
	if r.Done() || r.Digest == "" || r.Destination == "" {
		return
	}
	path, tag, err := refs.SplitDestination(r.Destination)
	if err != nil {
		return // process reports it
	}
	t := s.Mirror.Repo(path, s.MaxNested) + ":" + tag
	s.targets.mu.Lock()
	defer s.targets.mu.Unlock()
	if s.targets.holder == nil {
		s.targets.holder = map[string]*record.Record{}
		s.targets.refused = map[*record.Record]error{}
	}
	prev := s.targets.holder[t]
	if prev == nil {
		s.targets.holder[t] = r
		return
	}
	if prev.Digest == r.Digest {
		return
	}
	why, fix := "", "keep one of them in the image set and mirror the other to another docker://HOST/PREFIX"
	if prev.Destination != r.Destination {
		why = fmt.Sprintf(" (--max-nested-paths %d folds %s and %s into one repository)", s.MaxNested, prev.Destination, r.Destination)
		fix = "push with a larger --max-nested-paths, or mirror one of them to another docker://HOST/PREFIX"
	}
	s.targets.refused[r] = fmt.Errorf("%w: %s (%s) and %s (%s) both map to %s/%s%s; the mirror can hold only one: the first goes there, this one does not; fix: %s",
		ErrCollision, prev.Name(), prev.Digest, r.Name(), r.Digest, s.Mirror.Registry, t, why, fix)
}

// refusal is claim's verdict on r (nil: push it).
func (s *Stage) refusal(r *record.Record) error {
	s.targets.mu.Lock()
	defer s.targets.mu.Unlock()
	return s.targets.refused[r]
}

// Collisions is how many records were refused for a taken target.
func (s *Stage) Collisions() int {
	s.targets.mu.Lock()
	defer s.targets.mu.Unlock()
	return len(s.targets.refused)
}

// Refused names, after the run, the records refused for a taken target
// (each is named in the log), or is nil.
func (s *Stage) Refused() error {
	if n := s.Collisions(); n > 0 {
		return fmt.Errorf("%d images not pushed: their target holds another image of this input (named above)", n)
	}
	return nil
}
