package plan

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// blocklist holds mirror.blockedImages. An entry without tag or digest
// blocks the whole repository; with a tag, that tag; with a digest, that
// content in that repository whatever tag names it.
type blocklist struct {
	repos   map[string]bool
	tags    map[string]bool // repo:tag
	digests map[string]bool // repo@digest
}

func newBlocklist(imgs []config.Image) (*blocklist, error) {
	b := &blocklist{repos: map[string]bool{}, tags: map[string]bool{}, digests: map[string]bool{}}
	for _, img := range imgs {
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
func (b *blocklist) match(source, digest string) string {
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
	if d, ok := digestOf(source); ok && b.digests[repo+"@"+d] {
		return fmt.Sprintf("blocked: %s@%s is in mirror.blockedImages", repo, d)
	}
	if digest != "" && b.digests[repo+"@"+digest] {
		return fmt.Sprintf("blocked: %s@%s is in mirror.blockedImages", repo, digest)
	}
	return ""
}
