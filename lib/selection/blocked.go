package selection

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// Blocklist holds mirror.blockedImages. An entry without tag or digest
// blocks the whole repository; with a tag, that tag; with a digest, that
// content in that repository whatever tag names it.
type Blocklist struct {
	repos   map[string]bool
	tags    map[string]bool // repo:tag
	digests map[string]bool // repo@digest
	// patterns are entries that are not image references: unanchored
	// regular expressions matched against source and destination, as
	// oc-mirror 4.19+ matches every entry.
	patterns []pattern
}

type pattern struct {
	re   *regexp.Regexp
	line int
}

func NewBlocklist(imgs []config.Image) (*Blocklist, error) {
	b := &Blocklist{repos: map[string]bool{}, tags: map[string]bool{}, digests: map[string]bool{}}
	for _, img := range imgs {
		if img.Pattern {
			re, err := regexp.Compile(img.Name)
			if err != nil {
				return nil, fmt.Errorf("line %d: blockedImages: bad regular expression %q: %v", img.Line, img.Name, err)
			}
			b.patterns = append(b.patterns, pattern{re, img.Line})
			continue
		}
		if d, err := name.NewDigest(img.Name); err == nil {
			b.digests[d.Context().Name()+"@"+d.DigestStr()] = true
			continue
		}
		if t, err := name.NewTag(img.Name); err == nil && refs.TagOf(img.Name) != "" {
			b.tags[t.Context().Name()+":"+t.TagStr()] = true
			continue
		}
		r, err := name.NewRepository(img.Name)
		if err != nil {
			return nil, fmt.Errorf("line %d: blockedImages: bad reference %q: %v", img.Line, img.Name, err)
		}
		b.repos[r.Name()] = true
	}
	return b, nil
}

// match returns why source (with its resolved digest, if known) is blocked, or "".
func (b *Blocklist) match(source, digest string) string {
	ref, err := name.ParseReference(source)
	if err != nil {
		return ""
	}
	repo := ref.Context().Name()
	switch {
	case b.repos[repo]:
		return fmt.Sprintf("blocked: repository %s is in mirror.blockedImages", repo)
	}
	if t, ok := ref.(name.Tag); ok && b.tags[repo+":"+t.TagStr()] {
		return fmt.Sprintf("blocked: %s:%s is in mirror.blockedImages", repo, t.TagStr())
	}
	if d, ok := refs.DigestOf(source); ok && b.digests[repo+"@"+d] {
		return fmt.Sprintf("blocked: %s@%s is in mirror.blockedImages", repo, d)
	}
	if digest != "" && b.digests[repo+"@"+digest] {
		return fmt.Sprintf("blocked: %s@%s is in mirror.blockedImages", repo, digest)
	}
	return ""
}

// MatchRecord returns why r is blocked, or "": exact entries against its
// source (and digest once known), patterns against its source and its
// destination in the mirror.
func (b *Blocklist) MatchRecord(r *record.Record) string {
	if b == nil {
		return ""
	}
	if why := b.match(r.Source, r.Digest); why != "" {
		return why
	}
	src := r.Source
	if _, after, ok := strings.Cut(src, "://"); ok {
		src = after
	}
	for _, p := range b.patterns {
		switch {
		case p.re.MatchString(src):
			return fmt.Sprintf("blocked: source matches %q (mirror.blockedImages, line %d)", p.re, p.line)
		case r.Destination != "" && p.re.MatchString(r.Destination):
			return fmt.Sprintf("blocked: destination %s matches %q (mirror.blockedImages, line %d)", r.Destination, p.re, p.line)
		}
	}
	return ""
}

// ErrReleaseBlocked: a blockedImages entry names a release payload or one of
// its components. A release is mirrored whole or not at all.
var ErrReleaseBlocked = errors.New("release blocked")

// CheckReleases fails when blockedImages block any release record.
func (b *Blocklist) CheckReleases(recs []*record.Record) error {
	for _, r := range recs {
		if r.Origin != record.OriginRelease && r.Origin != record.OriginReleaseComponent {
			continue
		}
		if why := b.MatchRecord(r); why != "" {
			return fmt.Errorf("%w: release %s: %s %s is %s; a release is mirrored whole or not at all; fix: narrow the blockedImages entry, or drop the release's channel from mirror.platform",
				ErrReleaseBlocked, r.Release, r.Origin, r.Name(), strings.TrimPrefix(why, "blocked: "))
		}
	}
	return nil
}
