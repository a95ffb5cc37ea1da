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
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
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
}

// Find returns what is attached to each subject (an image digest and the
// digests of its platforms' manifests), in a stable order: per subject the
// tag scheme's signature, attestation and SBOM, then referrers, then the
// referrers tag schema's index when the registry has no referrers API.
func (f *Finder) Find(ctx context.Context, subjects []string) ([]record.Attachment, error) {
	var out []record.Attachment
	for _, s := range subjects {
		tag, err := TagOf(s)
		if err != nil {
			return nil, err
		}
		for _, ts := range tagSchemes {
			d, ok, err := f.head(ctx, tag+ts.suffix)
			if err != nil {
				return nil, fmt.Errorf("looking up %s %s:%s: %w", ts.kind, f.Repo, tag+ts.suffix, err)
			}
			if ok {
				out = append(out, record.Attachment{Kind: ts.kind, Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Tag: tag + ts.suffix, Subject: s})
			}
		}
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
				break
			}
			body, mt, _, err := f.Client.Manifest(ctx, f.Repo, d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading referrers tag %s:%s: %w", f.Repo, tag, err)
			}
			idx, _, err := manifest.Parse(body, mt)
			if err != nil {
				return nil, fmt.Errorf("referrers tag %s:%s: %w", f.Repo, tag, err)
			}
			out = append(out, referrers(idx.Manifests, s)...)
			out = append(out, record.Attachment{Kind: record.KindReferrersTag, Digest: d.Digest, MediaType: mt, Size: int64(len(body)), Tag: tag, Subject: s})
		case err != nil:
			return nil, fmt.Errorf("asking %s for the referrers of %s: %w", f.Repo, s, err)
		default:
			out = append(out, referrers(refs, s)...)
		}
	}
	return out, nil
}

func referrers(ds []manifest.Descriptor, subject string) []record.Attachment {
	var out []record.Attachment
	for _, d := range ds {
		out = append(out, record.Attachment{Kind: record.KindReferrer, Digest: d.Digest, MediaType: d.MediaType, ArtifactType: d.ArtifactType, Size: d.Size, Subject: subject})
	}
	return out
}

// head is a HEAD that also knows the digest when the registry omits it.
func (f *Finder) head(ctx context.Context, tag string) (registry.Descriptor, bool, error) {
	d, ok, err := f.Client.HeadManifest(ctx, f.Repo, tag)
	if err != nil || !ok || d.Digest != "" {
		return d, ok, err
	}
	body, mt, dg, err := f.Client.Manifest(ctx, f.Repo, tag)
	if err != nil {
		return d, false, err
	}
	return registry.Descriptor{Digest: dg, MediaType: mt, Size: int64(len(body))}, true, nil
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
// an index, each platform's manifest. mediaType is the record's: a single
// manifest needs no request.
func Subjects(ctx context.Context, src copier.Source, digest, mediaType string) ([]string, error) {
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
		for _, c := range m.Manifests {
			out = append(out, c.Digest)
		}
	}
	return out, nil
}

// Copy copies atts from src to dst by digest, naming each by its tag when
// tagged is set (registries; a cache names images by source reference and
// keeps attachments by digest only). The referrers tag index comes last, so
// it never names manifests the destination lacks. A tag equal to reserved
// (the image's own destination tag: digest-only images are tagged
// sha256-<hex> too) is not written, so an attachment never replaces the image.
func Copy(ctx context.Context, e *copier.Engine, src copier.Source, dst copier.Dest, atts []record.Attachment, tagged bool, reserved string) (moved int, err error) {
	for pass := 0; pass < 2; pass++ {
		for _, a := range atts {
			if (a.Kind == record.KindReferrersTag) != (pass == 1) {
				continue
			}
			tag := ""
			if tagged && a.Tag != reserved {
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
	return moved, nil
}

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
