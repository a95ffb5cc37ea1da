// Package deletion removes images from a mirror registry in two steps, as an
// administrator wants it: generate a reviewable list of exactly which
// manifests would go (delete-images.yaml), then delete exactly those.
package deletion

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// Kind and APIVersion of delete-images.yaml.
const (
	Kind       = "DeleteImageList"
	APIVersion = "mirror.openshift.io/v2alpha1"
)

// List is delete-images.yaml.
type List struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Registry is the mirror the list was generated against.
	Registry string `json:"registry"`
	Items    []Item `json:"items"`
}

// Item is one manifest to delete.
type Item struct {
	Source      string `json:"source,omitempty"` // the image as mirrored from
	Destination string `json:"destination"`      // host/repo:tag it was found at
	Repository  string `json:"repository"`
	Digest      string `json:"digest"`
	// Tag names the manifest instead of Digest (oc-mirror's lists name
	// images by tag); it is resolved against the mirror when deleting.
	Tag string `json:"tag,omitempty"`
	// Parent is the index this manifest belongs to (a platform image).
	Parent string `json:"parent,omitempty"`
	// SharedWith names tags outside this list that point at the same
	// manifest: deleting it removes them too. Review before deleting.
	SharedWith []string `json:"sharedWith,omitempty"`
	// Type is oc-mirror's content type of the image (TypeOf); Attached
	// names the manifest an attachment (--delete-signatures) belongs to.
	// Both are written to delete-images.yaml, not read from ocm's own
	// earlier format.
	Type     string `json:"-"`
	Attached string `json:"-"`
}

// Generator builds a List from records.
type Generator struct {
	Client    *registry.Client
	Mirror    refs.Mirror
	MaxNested int
	Log       *logging.Logger
	// Keep, when set, is the image set that must stay: manifests it needs
	// are left out of the list.
	Keep []*record.Record
	// Signatures (--delete-signatures) also lists what is attached to each
	// listed manifest at the mirror: cosign signatures, attestations and
	// SBOMs (tags sha256-<hex>.sig/.att/.sbom), referrers and the referrers
	// tag schema's index. Without it they stay, as before.
	Signatures bool
}

type key struct{ repo, digest string }

// Generate resolves each record against the mirror and lists what is there.
func (g *Generator) Generate(ctx context.Context, recs []*record.Record) (*List, error) {
	l := &List{APIVersion: APIVersion, Kind: Kind, Registry: g.Mirror.Registry}
	keep, err := g.keepSet(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[key]bool{}
	listed := map[string]map[string]bool{} // repo -> tags being deleted
	for _, r := range recs {
		if r.Done() || r.Destination == "" {
			continue
		}
		p, err := g.Mirror.Place(r.Destination, g.MaxNested)
		if err != nil {
			return nil, err
		}
		repoName, tag := p.Repo, p.Tag
		repo, err := g.Client.Repository(p.Registry + "/" + repoName)
		if err != nil {
			return nil, err
		}
		desc, found, err := g.Client.HeadManifest(ctx, repo, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Destination, err)
		}
		if !found && r.Digest != "" {
			desc, found, err = g.Client.HeadManifest(ctx, repo, r.Digest)
			if err != nil {
				return nil, err
			}
		}
		if !found {
			g.Log.Infof("%s: not in the mirror, nothing to delete", r.Destination)
			continue
		}
		if listed[repoName] == nil {
			listed[repoName] = map[string]bool{}
		}
		listed[repoName][tag] = true
		k := key{repoName, desc.Digest}
		if keep[k] {
			g.Log.Infof("%s: kept, the image set to keep still uses %s", r.Destination, desc.Digest)
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		dest := p.Ref
		typ := TypeOf(r.Origin)
		l.Items = append(l.Items, Item{Source: r.Source, Destination: dest, Repository: repoName, Digest: desc.Digest, Type: typ})
		// Platform images of an index go too, after it.
		children, err := g.children(ctx, repo, desc.Digest)
		if err != nil {
			return nil, err
		}
		for _, c := range children {
			ck := key{repoName, c}
			if keep[ck] || seen[ck] {
				continue
			}
			seen[ck] = true
			l.Items = append(l.Items, Item{Source: sourceAt(r.Source, "@"+c), Destination: dest, Repository: repoName, Digest: c, Parent: desc.Digest, Type: typ})
		}
		if !g.Signatures {
			continue
		}
		// A manifest under a cosign tag that is not what the tag says is
		// someone else's image: it stays, and the reviewer hears of it.
		skip := func(a record.Attachment, why error) {
			g.Log.Warnf("%s: %s %s (%s) not listed: %v", dest, a.Kind, a.Digest, a.Tag, why)
		}
		atts, err := (&attach.Finder{Client: g.Client, Repo: repo, Skip: skip}).Find(ctx, append([]string{desc.Digest}, children...))
		if err != nil {
			return nil, fmt.Errorf("%s: looking up its signatures and referrers: %w", dest, err)
		}
		for _, a := range atts {
			if a.Tag != "" {
				listed[repoName][a.Tag] = true // goes with the attachment, not shared
			}
			ak := key{repoName, a.Digest}
			if keep[ak] || seen[ak] {
				continue
			}
			seen[ak] = true
			src := sourceAt(r.Source, "@"+a.Digest)
			if a.Tag != "" {
				src = sourceAt(r.Source, ":"+a.Tag)
			}
			l.Items = append(l.Items, Item{Source: src, Destination: dest, Repository: repoName, Digest: a.Digest, Type: typ, Attached: a.Kind + " of " + a.Subject})
		}
	}
	if err := g.markShared(ctx, l, listed); err != nil {
		return nil, err
	}
	return l, nil
}

// sourceAt names, in the repository source was mirrored from, the manifest
// suffix (@digest or :tag) names: what oc-mirror writes as imageName for a
// platform image or an attachment.
func sourceAt(source, suffix string) string {
	ref, err := name.ParseReference(source)
	if err != nil {
		return ""
	}
	return ref.Context().Name() + suffix
}

// keepSet resolves the image set to keep to the manifests it needs.
func (g *Generator) keepSet(ctx context.Context) (map[key]bool, error) {
	keep := map[key]bool{}
	for _, r := range g.Keep {
		if r.Done() || r.Destination == "" {
			continue
		}
		p, err := g.Mirror.Place(r.Destination, g.MaxNested)
		if err != nil {
			return nil, err
		}
		repoName, tag := p.Repo, p.Tag
		repo, err := g.Client.Repository(p.Registry + "/" + repoName)
		if err != nil {
			return nil, err
		}
		d := r.Digest
		if desc, found, err := g.Client.HeadManifest(ctx, repo, tag); err == nil && found {
			d = desc.Digest
		}
		keep[key{repoName, d}] = true
		children, err := g.children(ctx, repo, d)
		if err != nil && !registry.NotFound(err) {
			return nil, err
		}
		for _, c := range children {
			keep[key{repoName, c}] = true
		}
	}
	return keep, nil
}

// children lists the platform manifests of an index (none for an image).
func (g *Generator) children(ctx context.Context, repo name.Repository, digest string) ([]string, error) {
	body, mt, _, err := g.Client.Manifest(ctx, repo, digest)
	if err != nil || !manifest.IsIndex(mt) {
		return nil, err
	}
	m, _, err := manifest.Parse(body, mt)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out, nil
}

// markShared notes, for each listed manifest, other tags of its repository
// (not being deleted) that point at it.
func (g *Generator) markShared(ctx context.Context, l *List, listed map[string]map[string]bool) error {
	byKey := map[key]*Item{}
	for i := range l.Items {
		byKey[key{l.Items[i].Repository, l.Items[i].Digest}] = &l.Items[i]
	}
	for repoName, deleting := range listed {
		repo, err := g.Client.Repository(g.Mirror.Registry + "/" + repoName)
		if err != nil {
			return err
		}
		tags, err := g.Client.Tags(ctx, repo)
		if err != nil {
			return fmt.Errorf("listing tags of %s: %w", repoName, err)
		}
		sort.Strings(tags)
		for _, t := range tags {
			if deleting[t] {
				continue
			}
			desc, found, err := g.Client.HeadManifest(ctx, repo, t)
			if err != nil || !found {
				continue
			}
			if it := byKey[key{repoName, desc.Digest}]; it != nil {
				it.SharedWith = append(it.SharedWith, g.Mirror.Registry+"/"+repoName+":"+t)
			}
		}
	}
	return nil
}

// Read loads and checks a list.
func Read(path string) (*List, error) {
	b, err := capread.File(path, capread.Config)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	// ocm's earlier format (items of source, destination, repository,
	// digest) still deletes; else the list is oc-mirror's, which ocm now
	// writes too.
	var l List
	if err := yaml.UnmarshalStrict(b, &l); err != nil {
		if ol, ok, oerr := fromOcMirror(path, b); ok {
			return ol, oerr
		}
		return nil, fmt.Errorf("%s: %v; fix: use a file written by ocm-delete --generate or oc-mirror v2 delete --generate", path, err)
	}
	if l.Kind != Kind || l.APIVersion != APIVersion {
		return nil, fmt.Errorf("%s: kind %q apiVersion %q; fix: use a file written by ocm-delete --generate", path, l.Kind, l.APIVersion)
	}
	for i, it := range l.Items {
		// Repository and digest go into DELETE URLs: check them whole.
		if err := refs.CheckRepository(it.Repository); err != nil {
			return nil, fmt.Errorf("%s: items[%d].repository %q: %v; fix: use a file written by ocm-delete --generate", path, i, it.Repository, err)
		}
		if !verify.ValidDigest(it.Digest) {
			return nil, fmt.Errorf("%s: items[%d].digest %q is not sha256:<64 lowercase hex>; fix: use a file written by ocm-delete --generate", path, i, it.Digest)
		}
	}
	return &l, nil
}

// ErrDeletesDisabled: the registry refuses DELETE.
var ErrDeletesDisabled = errors.New("the registry refuses deletes (HTTP 405); fix: enable them, e.g. storage.delete.enabled: true in the distribution registry's config.yml or REGISTRY_STORAGE_DELETE_ENABLED=true, then run this again")

// Result of a delete run.
type Result struct {
	Deleted []Item
	Gone    []Item // already absent: reported, not an error
}

// Delete deletes exactly the list's manifests from the mirror, platform
// images after their index. It stops at the first refusal. A list with an
// item outside mirror (CheckScope) deletes nothing, dry run or not.
func Delete(ctx context.Context, c *registry.Client, mirror refs.Mirror, maxNested int, l *List, dryRun bool, log *logging.Logger) (*Result, error) {
	if err := CheckScope(l, mirror, maxNested); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, it := range l.Items {
		repo, err := c.Repository(mirror.Registry + "/" + it.Repository)
		if err != nil {
			return res, err
		}
		if it.Digest == "" { // named by tag: the manifest it points at now
			desc, found, err := c.HeadManifest(ctx, repo, it.Tag)
			if err != nil {
				return res, fmt.Errorf("resolving %s:%s: %w", it.Repository, it.Tag, err)
			}
			if !found {
				log.Infof("%s:%s is already gone, skipped", it.Repository, it.Tag)
				res.Gone = append(res.Gone, it)
				continue
			}
			it.Digest = desc.Digest
		}
		if dryRun {
			from := it.Destination // ocm's earlier lists; else where it was mirrored from
			if from == "" {
				from = it.Source
			}
			log.Infof("would delete %s@%s (%s)", it.Repository, it.Digest, from)
			res.Deleted = append(res.Deleted, it)
			continue
		}
		err = c.DeleteManifest(ctx, repo, it.Digest)
		var he *registry.HTTPError
		switch {
		case err == nil:
			log.Infof("deleted %s@%s", it.Repository, it.Digest)
			res.Deleted = append(res.Deleted, it)
		case registry.NotFound(err):
			log.Infof("%s@%s is already gone, skipped", it.Repository, it.Digest)
			res.Gone = append(res.Gone, it)
		case errors.As(err, &he) && he.StatusCode == http.StatusMethodNotAllowed:
			return res, ErrDeletesDisabled
		default:
			return res, fmt.Errorf("deleting %s@%s: %w", it.Repository, it.Digest, err)
		}
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	log.Infof("%s %d manifests, %d already gone; storage is freed when the registry's garbage collector runs", verb, len(res.Deleted), len(res.Gone))
	return res, nil
}
