// Package attach finds what is attached to an image (cosign signatures,
// attestations and SBOMs under the cosign tag scheme; OCI 1.1 referrers
// through the referrers API or its tag schema fallback) and copies it next
// to the image, by digest, through the copy engine like any manifest.
//
// Attachments are looked up each time the image is copied from its source,
// so a signature added upstream after a first run is copied by the next.
package attach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/workpool"
)

// tagSchemes are cosign's tags, sha256-<hex><suffix>, beside the image.
var tagSchemes = []struct{ suffix, kind string }{
	{".sig", record.KindSignature},
	{".att", record.KindAttestation},
	{".sbom", record.KindSBOM},
}

// Finder looks attachments up in the repository an image is read from.
type Finder struct {
	Client *registry.Client
	Repo   name.Repository
	// Max is how many attachments one image may have (Bound); 0: no limit.
	Max int
	// Skip, when set, hears of each manifest found where an attachment
	// would be that is not one (Verify): it is left out.
	Skip func(a record.Attachment, why error)
}

// Find returns what is attached to each subject (an image digest and the
// digests of its platforms' manifests), in a stable order: per subject the
// tag scheme's signature, attestation and SBOM, then referrers, then the
// referrers tag schema's index when the registry has no referrers API.
func (f *Finder) Find(ctx context.Context, subjects []string) ([]record.Attachment, error) {
	if len(subjects) > 0 {
		// Where the image came from (a registries.conf mirror, in an
		// enclave) is where its attachments are.
		f = &Finder{Client: f.Client, Repo: f.Client.ServedRepository(f.Repo, subjects[0]), Max: f.Max, Skip: f.Skip}
	}
	tags := make([]string, len(subjects))
	for i, s := range subjects {
		tag, err := TagOf(s)
		if err != nil {
			return nil, err
		}
		tags[i] = tag
	}
	// The lookups are independent: they run at once, each into its slot
	// (per subject the tag schemes, then referrers), so that the order of
	// the result and the error returned (the first in that order) are as
	// if they ran one after another. An error does not cancel the others
	// for the same reason: a cancelled earlier lookup would hide it.
	per := len(tagSchemes) + 1
	slots := make([][]record.Attachment, len(subjects)*per)
	errs := make([]error, len(slots))
	workpool.Run(ctx, len(slots), findLimit, func(ctx context.Context, i int) error {
		s, tag, k := subjects[i/per], tags[i/per], i%per
		if k < len(tagSchemes) {
			slots[i], errs[i] = f.tagged(ctx, s, tag, tagSchemes[k].suffix, tagSchemes[k].kind)
		} else {
			slots[i], errs[i] = f.referrers(ctx, s, tag)
		}
		return nil
	})
	var out []record.Attachment
	for i := range slots {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, slots[i]...)
	}
	// Bounded before any of them is read: a flood stops here.
	if err := Bound(out, f.Max); err != nil {
		return nil, err
	}
	return f.verify(ctx, out)
}

// verify reads each attachment found and keeps those that are what their
// kind says (Verify); the others go to f.Skip. A source's referrers tag
// index that lists a referrer left out is left out too: copying it would
// carry that referrer along (the mirror gets an index of the kept ones,
// written by Copy).
func (f *Finder) verify(ctx context.Context, atts []record.Attachment) ([]record.Attachment, error) {
	bad := make([]error, len(atts))
	err := workpool.Run(ctx, len(atts), findLimit, func(ctx context.Context, i int) error {
		a := atts[i]
		if a.Kind == record.KindReferrersTag {
			return nil // an index of referrers, each checked on its own
		}
		body, mt, _, err := f.Client.Manifest(ctx, f.Repo, a.Digest)
		if err != nil {
			return fmt.Errorf("reading %s %s of %s in %s: %w", a.Kind, a.Digest, a.Subject, f.Repo, err)
		}
		bad[i] = Verify(a, body, mt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	dropped := map[string]bool{} // subjects that lost a referrer
	for i, a := range atts {
		if bad[i] != nil && a.Kind == record.KindReferrer {
			dropped[a.Subject] = true
		}
	}
	var out []record.Attachment
	for i, a := range atts {
		if bad[i] == nil && a.Kind == record.KindReferrersTag && dropped[a.Subject] {
			bad[i] = fmt.Errorf("it lists a referrer that is not one")
		}
		if bad[i] != nil {
			if f.Skip != nil {
				f.Skip(a, bad[i])
			}
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// ErrNotAttachment: a manifest found where an attachment would be (a
// cosign tag, a referrers list) is not that kind of attachment.
var ErrNotAttachment = errors.New("not an attachment")

// layerTypes are the layer media types each cosign tag kind carries: what
// cosign sign, attest and attach sbom write.
var layerTypes = map[string]map[string]bool{
	record.KindSignature:   {"application/vnd.dev.cosign.simplesigning.v1+json": true},
	record.KindAttestation: {"application/vnd.dsse.envelope.v1+json": true},
	record.KindSBOM: {
		"text/spdx": true, "text/spdx+json": true, "text/spdx+xml": true, "application/spdx+json": true,
		"application/vnd.cyclonedx": true, "application/vnd.cyclonedx+json": true, "application/vnd.cyclonedx+xml": true,
		"application/vnd.syft+json": true,
	},
}

// Verify checks that body (the manifest a found) is an attachment of a's
// kind: under a cosign tag, an image manifest whose layers are all of the
// kind's media types; a referrer must name a.Subject as its subject. Any
// manifest can be pushed under a sha256-<hex>.sig tag; only a signature
// is carried as one.
func Verify(a record.Attachment, body []byte, mt string) error {
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotAttachment, err)
	}
	if a.Kind == record.KindReferrer {
		if m.Subject == nil || m.Subject.Digest != a.Subject {
			return fmt.Errorf("%w: its subject is not %s", ErrNotAttachment, a.Subject)
		}
		return nil
	}
	want := layerTypes[a.Kind]
	if want == nil {
		return nil
	}
	if manifest.IsIndex(mt) || len(m.Layers) == 0 {
		return fmt.Errorf("%w: a %s is an image manifest with layers, this is a %s", ErrNotAttachment, a.Kind, describe(mt, m))
	}
	for _, l := range m.Layers {
		if !want[l.MediaType] {
			return fmt.Errorf("%w: a %s's layers are %s, this one has a layer of type %q", ErrNotAttachment, a.Kind, strings.Join(sortedKeys(want), " or "), l.MediaType)
		}
	}
	return nil
}

func describe(mt string, m *manifest.Manifest) string {
	if manifest.IsIndex(mt) {
		return fmt.Sprintf("index of %d manifests", len(m.Manifests))
	}
	return fmt.Sprintf("manifest of %d layers", len(m.Layers))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrTooMany: an image has more attachments than the run allows (a
// hostile referrers index lists thousands).
var ErrTooMany = errors.New("too many attachments")

// Bound bounds what one image drags along, and so its record: more than
// max attachments (0: no limit), or one a record cannot carry
// (record.Attachment.Check), fail the image alone.
func Bound(atts []record.Attachment, max int) error {
	if max > 0 && len(atts) > max {
		return fmt.Errorf("%w: %d signatures, attestations, SBOMs and referrers found, more than --max-attachments %d; fix: rerun with a larger --max-attachments (at most %d), or with --remove-signatures to copy the image alone", ErrTooMany, len(atts), max, record.MaxAttachments)
	}
	for i, a := range atts {
		if err := a.Check(); err != nil {
			return fmt.Errorf("%s %s of %s: attachments[%d]%v; fix: ask the image's publisher to fix it, or push with --remove-signatures to copy the image alone", a.Kind, a.Digest, a.Subject, i, err)
		}
	}
	return nil
}

// findLimit bounds the requests of one Find: enough to hide the latency of
// small lookups, few enough to leave the registry's connections to copies.
const findLimit = 8

// tagged looks up the cosign tag tag+suffix of subject s.
func (f *Finder) tagged(ctx context.Context, s, tag, suffix, kind string) ([]record.Attachment, error) {
	d, ok, err := f.head(ctx, tag+suffix)
	if err != nil {
		return nil, fmt.Errorf("looking up %s %s:%s: %w", kind, f.Repo, tag+suffix, err)
	}
	if !ok {
		return nil, nil
	}
	return []record.Attachment{{Kind: kind, Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Tag: tag + suffix, Subject: s}}, nil
}

// referrers looks up the referrers of subject s through the referrers API
// or, on a registry without it, the referrers tag schema's index tag.
func (f *Finder) referrers(ctx context.Context, s, tag string) ([]record.Attachment, error) {
	refs, err := f.Client.Referrers(ctx, f.Repo, s)
	switch {
	case errors.Is(err, registry.ErrNoReferrersAPI):
		// The referrers tag schema: an index tagged sha256-<hex> lists them.
		// A tag of that name naming the image itself (how digest-only
		// images are mirrored) is no such index.
		d, ok, err := f.head(ctx, tag)
		if err != nil {
			return nil, fmt.Errorf("looking up referrers tag %s:%s: %w", f.Repo, tag, err)
		}
		if !ok || d.Digest == s || d.MediaType != manifest.OCIIndex {
			return nil, nil
		}
		body, mt, _, err := f.Client.Manifest(ctx, f.Repo, d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading referrers tag %s:%s: %w", f.Repo, tag, err)
		}
		idx, _, err := manifest.Parse(body, mt)
		if err != nil {
			return nil, fmt.Errorf("referrers tag %s:%s: %w", f.Repo, tag, err)
		}
		out := referrers(idx.Manifests, s)
		return append(out, record.Attachment{Kind: record.KindReferrersTag, Digest: d.Digest, MediaType: mt, Size: int64(len(body)), Tag: tag, Subject: s}), nil
	case err != nil:
		return nil, fmt.Errorf("asking %s for the referrers of %s: %w", f.Repo, s, err)
	default:
		return referrers(refs, s), nil
	}
}

func referrers(ds []manifest.Descriptor, subject string) []record.Attachment {
	var out []record.Attachment
	for _, d := range ds {
		out = append(out, record.Attachment{Kind: record.KindReferrer, Digest: d.Digest, MediaType: d.MediaType, ArtifactType: d.ArtifactType, Size: d.Size, Subject: subject})
	}
	return out
}

// head is a HEAD that also knows the digest when the registry omits it.
func (f *Finder) head(ctx context.Context, tag string) (manifest.Descriptor, bool, error) {
	d, ok, err := f.Client.HeadManifest(ctx, f.Repo, tag)
	if err != nil || !ok || d.Digest != "" {
		return d, ok, err
	}
	body, mt, dg, err := f.Client.Manifest(ctx, f.Repo, tag)
	if err != nil {
		return d, false, err
	}
	return manifest.Descriptor{Digest: dg, MediaType: mt, Size: int64(len(body))}, true, nil
}

// TagOf is the tag the cosign and referrers tag schemes derive from a
// digest: "sha256:<hex>" becomes "sha256-<hex>".
func TagOf(digest string) (string, error) {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || alg == "" || hex == "" {
		return "", fmt.Errorf("bad digest %q", digest)
	}
	return alg + "-" + hex, nil
}

// Subjects are the manifests attachments may point at: the image and, for
// an index, each platform's manifest sel keeps (nil: all; a sparse copy
// lacks the others, so what is attached to them is not copied). mediaType
// is the record's: a single manifest needs no request.
func Subjects(ctx context.Context, src store.Reader, digest, mediaType string, sel manifest.Selection) ([]string, error) {
	if mediaType != "" && !manifest.IsIndex(mediaType) {
		return []string{digest}, nil
	}
	body, mt, err := src.Manifest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s from %s: %w", digest, src, err)
	}
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return nil, err
	}
	out := []string{digest}
	if manifest.IsIndex(mt) {
		for _, c := range sel.Kept(m) {
			out = append(out, c.Digest)
		}
	}
	return out, nil
}

// Copy copies atts from src to dst by digest, naming each by its tag when
// tagged is set (registries; a cache names images by source reference and
// keeps attachments by digest only). The referrers tag index comes last, so
// it never names manifests the destination lacks. A tag reserved says is
// an image's (the image's own destination tag: digest-only images are
// tagged sha256-<hex> too) is not written, so an attachment never replaces
// an image; nil reserves none.
func Copy(ctx context.Context, e *copier.Engine, src store.Reader, dst store.Writer, atts []record.Attachment, tagged bool, reserved func(tag string) bool) (moved int, err error) {
	if reserved == nil {
		reserved = func(string) bool { return false }
	}
	for pass := 0; pass < 2; pass++ {
		for _, a := range atts {
			if (a.Kind == record.KindReferrersTag) != (pass == 1) {
				continue
			}
			tag := ""
			if tagged && !reserved(a.Tag) {
				tag = a.Tag
			}
			res, err := e.Copy(ctx, src, a.Digest, dst, tag)
			if err != nil {
				return moved, fmt.Errorf("copying %s %s of %s: %w", a.Kind, a.Digest, a.Subject, err)
			}
			if !res.UpToDate {
				moved++
			}
		}
	}
	if rd, ok := dst.(*registry.Repo); ok && tagged {
		if err := tagIndexes(ctx, rd, atts, reserved); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// tagIndexes makes referrers found through a source's referrers API
// findable at a destination without the API: it writes the referrers tag
// schema's index there (sha256-<hex>), keeping entries already listed, as
// the OCI distribution spec asks of clients pushing to such registries.
func tagIndexes(ctx context.Context, dst *registry.Repo, atts []record.Attachment, reserved func(string) bool) error {
	copiedIndex := map[string]bool{} // the source's tag index was copied as is
	for _, a := range atts {
		if a.Kind == record.KindReferrersTag {
			copiedIndex[a.Subject] = true
		}
	}
	bySubject := map[string][]record.Attachment{}
	var order []string
	for _, a := range atts {
		if a.Kind != record.KindReferrer || copiedIndex[a.Subject] {
			continue
		}
		if bySubject[a.Subject] == nil {
			order = append(order, a.Subject)
		}
		bySubject[a.Subject] = append(bySubject[a.Subject], a)
	}
	for _, subject := range order {
		refs := bySubject[subject]
		tag, err := TagOf(subject)
		if err != nil || reserved(tag) {
			continue
		}
		if _, err := dst.Client.Referrers(ctx, dst.Name, subject); err == nil {
			continue // the destination indexes referrers itself
		} else if !errors.Is(err, registry.ErrNoReferrersAPI) {
			return fmt.Errorf("asking %s for the referrers of %s: %w", dst, subject, err)
		}
		idx := manifest.Manifest{MediaType: manifest.OCIIndex}
		have := map[string]bool{}
		if d, ok, err := dst.Client.HeadManifest(ctx, dst.Name, tag); err != nil {
			return fmt.Errorf("looking up %s:%s: %w", dst, tag, err)
		} else if ok && d.Digest != subject && d.MediaType == manifest.OCIIndex {
			body, mt, _, err := dst.Client.Manifest(ctx, dst.Name, tag)
			if err != nil {
				return fmt.Errorf("reading %s:%s: %w", dst, tag, err)
			}
			old, _, err := manifest.Parse(body, mt)
			if err != nil {
				return fmt.Errorf("%s:%s: %w", dst, tag, err)
			}
			idx.Manifests = old.Manifests
		} else if ok {
			continue // the tag names something else: leave it
		}
		for _, m := range idx.Manifests {
			have[m.Digest] = true
		}
		n := len(idx.Manifests)
		for _, a := range refs {
			if !have[a.Digest] {
				have[a.Digest] = true
				idx.Manifests = append(idx.Manifests, manifest.Descriptor{MediaType: a.MediaType, Digest: a.Digest, Size: a.Size, ArtifactType: a.ArtifactType})
			}
		}
		if len(idx.Manifests) == n {
			continue // up to date
		}
		body, err := json.Marshal(struct {
			SchemaVersion int                   `json:"schemaVersion"`
			MediaType     string                `json:"mediaType"`
			Manifests     []manifest.Descriptor `json:"manifests"`
		}{2, manifest.OCIIndex, idx.Manifests})
		if err != nil {
			return err
		}
		if err := dst.Client.PutManifest(ctx, dst.Name, tag, body, manifest.OCIIndex); err != nil {
			return fmt.Errorf("writing the referrers tag %s:%s: %w", dst, tag, err)
		}
	}
	return nil
}

// Reserve reserves tags for Copy.
func Reserve(tags ...string) func(string) bool {
	return func(tag string) bool { return slices.Contains(tags, tag) }
}

// MirrorTag is a tag Copy writes at a registry.
type MirrorTag struct {
	Tag string
	// Digest is what it names; for the referrers tag index Copy writes
	// itself (referrers found through the referrers API) it is known only
	// then, and is IndexOf(Subject).
	Digest string
	// Subject is set for a referrers tag index: the image it lists the
	// referrers of.
	Subject string
}

// MirrorTags are the tags Copy writes at a registry for atts.
func MirrorTags(atts []record.Attachment) []MirrorTag {
	copied := map[string]bool{}
	for _, a := range atts {
		if a.Kind == record.KindReferrersTag {
			copied[a.Subject] = true
		}
	}
	var out []MirrorTag
	seen := map[string]bool{}
	for _, a := range atts {
		switch {
		case a.Kind == record.KindReferrersTag:
			out = append(out, MirrorTag{Tag: a.Tag, Digest: a.Digest, Subject: a.Subject})
		case a.Tag != "":
			out = append(out, MirrorTag{Tag: a.Tag, Digest: a.Digest})
		case a.Kind == record.KindReferrer && !copied[a.Subject] && !seen[a.Subject]:
			seen[a.Subject] = true
			if tag, err := TagOf(a.Subject); err == nil {
				out = append(out, MirrorTag{Tag: tag, Digest: IndexOf(a.Subject), Subject: a.Subject})
			}
		}
	}
	return out
}

// IndexOf names the referrers tag index of subject Copy writes at a
// registry without the referrers API (its digest is known only then).
func IndexOf(subject string) string { return "referrers index of " + subject }

// Summary says what atts hold, by kind: "1 signature, 2 referrers".
func Summary(atts []record.Attachment) string {
	n := map[string]int{}
	var kinds []string
	for _, a := range atts {
		if n[a.Kind] == 0 {
			kinds = append(kinds, a.Kind)
		}
		n[a.Kind]++
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return strings.Join(parts, ", ")
}
