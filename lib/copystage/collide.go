package copystage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/record"
)

// ErrCollision: a record is bound for a mirror target that an earlier record
// of the input holds with another image. Plan catches equal destinations;
// push decides the final repository (--max-nested-paths folds a/b-c and
// a/b/c into one), so it checks again. The tags attachments are written
// under (cosign's sha256-<hex>.sig, the referrers tag schema's sha256-<hex>)
// are claimed the same way: an attachment never replaces an image.
var ErrCollision = errors.New("destination collision")

// targets remembers, in input order, what each mirror target gets.
type targets struct {
	mu      sync.Mutex
	holder  map[string]holding // repo:tag -> its first claim
	refused map[*record.Record]error
}

// holding is one claim of a mirror target: the record's image, or one of
// its attachments (what names it, digest what it writes there).
type holding struct {
	r      *record.Record
	digest string
	what   string // "" for the image itself
	// indexOf is set for a referrers tag index: the subject it lists.
	indexOf string
}

func (h holding) String() string {
	if h.what == "" {
		return fmt.Sprintf("%s (%s)", h.r.Name(), h.digest)
	}
	return fmt.Sprintf("%s of %s (%s)", h.what, h.r.Name(), h.digest)
}

// take claims target t for h. It returns the earlier claim h collides
// with (clash), or whether the target is an image's that h, the image's
// referrers index, leaves to it (yield). Claims of the same content share
// a target.
func (s *Stage) take(t string, h holding) (prev holding, clash, yield bool) {
	s.targets.mu.Lock()
	defer s.targets.mu.Unlock()
	if s.targets.holder == nil {
		s.targets.holder = map[string]holding{}
		s.targets.refused = map[*record.Record]error{}
	}
	prev, ok := s.targets.holder[t]
	switch {
	case !ok:
		s.targets.holder[t] = h
		return holding{}, false, false
	case prev.digest == h.digest:
		return holding{}, false, false
	case ownReferrersTag(h, prev):
		s.targets.holder[t] = h // the image keeps its tag
		return holding{}, false, false
	case ownReferrersTag(prev, h):
		return holding{}, false, true
	}
	return prev, true, false
}

// ownReferrersTag: image holds the tag sha256-<hex> as a digest-only image
// and a is the referrers index of that same image: the image keeps the tag
// (Copy does not write the index there; the referrers go by digest only).
func ownReferrersTag(image, a holding) bool {
	return image.what == "" && a.indexOf != "" && a.indexOf == image.digest
}

// refuse records that r is not pushed.
func (s *Stage) refuse(r *record.Record, err error) error {
	s.targets.mu.Lock()
	defer s.targets.mu.Unlock()
	s.targets.refused[r] = err
	return err
}

// claim notes r's target; a later record with another digest is refused.
// Records with the same digest share a target: it holds the right image for
// each of them.
func (s *Stage) claim(r *record.Record) {
	if r.Done() || r.Digest == "" || r.Destination == "" {
		return
	}
	p, err := s.Mirror.Place(r.Destination, s.MaxNested)
	if err != nil {
		return // process reports it
	}
	t := p.RepoTag()
	prev, clash, _ := s.take(t, holding{r: r, digest: r.Digest})
	if !clash {
		return
	}
	why, fix := "", "keep one of them in the image set and mirror the other to another docker://HOST/PREFIX"
	switch {
	case prev.what != "":
		fix = "mirror one of them to another docker://HOST/PREFIX, or push with --remove-signatures"
	case prev.r.Destination != r.Destination:
		why = fmt.Sprintf(" (--max-nested-paths %d folds %s and %s into one repository)", s.MaxNested, prev.r.Destination, r.Destination)
		fix = "push with a larger --max-nested-paths, or mirror one of them to another docker://HOST/PREFIX"
	}
	s.refuse(r, fmt.Errorf("%w: %s and %s (%s) both map to %s/%s%s; the mirror can hold only one: the first goes there, this one does not; fix: %s",
		ErrCollision, prev, r.Name(), r.Digest, s.Mirror.Registry, t, why, fix))
}

// claimAttachments claims, before they are copied, the tags r's
// attachments will be written under in repository repo. A tag another
// claim holds with other content fails r (its signature could not be
// where a cluster looks for it); a referrers tag naming the image itself
// is reserved, not written. It returns the tags Copy must not write.
func (s *Stage) claimAttachments(r *record.Record, repo, own string) (func(string) bool, error) {
	reserved := []string{own}
	for _, mt := range attach.MirrorTags(r.Attachments) {
		tag := mt.Tag
		if tag == own {
			continue
		}
		what := "attachment tag " + tag
		if mt.Subject != "" {
			what = "referrers index " + tag
		}
		h := holding{r: r, digest: mt.Digest, what: what, indexOf: mt.Subject}
		prev, clash, yield := s.take(repo+":"+tag, h)
		if yield {
			reserved = append(reserved, tag)
		}
		if !clash {
			continue
		}
		return nil, s.refuse(r, fmt.Errorf("%w: %s and %s both map to %s/%s:%s; the mirror can hold only one: the first goes there, this image's attachments do not; fix: mirror one of them to another docker://HOST/PREFIX, or push with --remove-signatures",
			ErrCollision, prev, h, s.Mirror.Registry, repo, tag))
	}
	return attach.Reserve(reserved...), nil
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
		return fmt.Errorf("%d images not pushed: their target, or a tag their signatures or referrers go under, holds another image of this input (named above)", n)
	}
	return nil
}
