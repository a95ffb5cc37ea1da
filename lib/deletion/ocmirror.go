package deletion

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// ocMirrorList is oc-mirror v2's delete-images.yaml (v2alpha1
// DeleteImageList: items of imageName, imageReference, type), which ocm
// writes too. Its docs also show apiVersion v1alpha2 with relatedBlobs per
// item.
type ocMirrorList struct {
	Kind       string         `json:"kind" yaml:"kind"`
	APIVersion string         `json:"apiVersion" yaml:"apiVersion"`
	Items      []ocMirrorItem `json:"items" yaml:"items"`
}

type ocMirrorItem struct {
	ImageName      string   `json:"imageName" yaml:"imageName"`
	ImageReference string   `json:"imageReference" yaml:"imageReference"`
	Type           string   `json:"type" yaml:"type"`
	RelatedBlobs   []string `json:"relatedBlobs,omitempty" yaml:"relatedBlobs,omitempty"` // not used: only manifests are deleted, as oc-mirror does
}

// TypeOf is oc-mirror's type (its ImageType's names) of an image of origin
// o. A Helm chart artifact counts as Helm content, as its images do.
func TypeOf(o record.Origin) string {
	switch o {
	case record.OriginRelease:
		return "ocpRelease"
	case record.OriginReleaseComponent:
		return "ocpReleaseContent"
	case record.OriginGraph:
		return "cincinnatiGraph"
	case record.OriginCatalog:
		return "operatorCatalog"
	case record.OriginBundle:
		return "operatorBundle"
	case record.OriginRelated:
		return "operatorRelatedImage"
	case record.OriginHelm, record.OriginHelmChart:
		return "helmImage"
	}
	return "generic"
}

// Notes ocm keeps per item, as comments oc-mirror ignores: what a reviewer
// needs, read back by Read.
const (
	noteShared   = "sharedWith: "
	noteParent   = "platform image of: "
	noteAttached = "attached: "
)

// Write saves l atomically as oc-mirror's DeleteImageList, each manifest
// named by digest (docker://HOST/REPO@sha256:...), so that oc-mirror and
// ocm both delete exactly what was reviewed.
func Write(path string, l *List) error {
	o := ocMirrorList{Kind: Kind, APIVersion: APIVersion, Items: []ocMirrorItem{}}
	for _, it := range l.Items {
		ref := "docker://" + l.Registry + "/" + it.Repository
		if it.Digest != "" {
			ref += "@" + it.Digest
		} else {
			ref += ":" + it.Tag
		}
		typ := it.Type
		if typ == "" {
			typ = TypeOf(record.OriginAdditional)
		}
		src := it.Source
		if src == "" {
			src = strings.TrimPrefix(ref, "docker://")
		}
		o.Items = append(o.Items, ocMirrorItem{ImageName: src, ImageReference: ref, Type: typ})
	}
	var n yamlv3.Node
	if err := n.Encode(o); err != nil {
		return err
	}
	n.HeadComment = "Manifests ocm-delete --delete-yaml-file (or oc-mirror delete --delete-yaml-file) will delete from " + l.Registry + ".\n" +
		"Review it: an item with a sharedWith comment is also named by tags outside this list.\n" +
		"Deleting manifests frees no storage until the registry's garbage collector runs."
	if items := mapValue(&n, "items"); items != nil {
		for i, it := range l.Items {
			var notes []string
			if it.Parent != "" {
				notes = append(notes, noteParent+it.Parent)
			}
			if it.Attached != "" {
				notes = append(notes, noteAttached+it.Attached)
			}
			if len(it.SharedWith) > 0 {
				notes = append(notes, noteShared+strings.Join(it.SharedWith, ", "))
			}
			items.Content[i].HeadComment = strings.Join(notes, "\n")
		}
	}
	var b bytes.Buffer
	enc := yamlv3.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}

// mapValue is the value of key in mapping n (nil: none).
func mapValue(n *yamlv3.Node, key string) *yamlv3.Node {
	if n.Kind == yamlv3.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// readNotes reads back Write's comments into l's items (nothing for a list
// without them, as oc-mirror writes it).
func readNotes(b []byte, l *List) {
	var n yamlv3.Node
	if yamlv3.Unmarshal(b, &n) != nil {
		return
	}
	items := mapValue(&n, "items")
	if items == nil || items.Kind != yamlv3.SequenceNode || len(items.Content) != len(l.Items) {
		return
	}
	for i, in := range items.Content {
		for _, line := range strings.Split(in.HeadComment, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
			if v, ok := strings.CutPrefix(line, noteShared); ok {
				l.Items[i].SharedWith = strings.Split(v, ", ")
			} else if v, ok := strings.CutPrefix(line, noteParent); ok {
				l.Items[i].Parent = v
			} else if v, ok := strings.CutPrefix(line, noteAttached); ok {
				l.Items[i].Attached = v
			}
		}
	}
}

// fromOcMirror reads b as oc-mirror's list; ok is false when it is not one
// (then the caller reports its own format's error).
func fromOcMirror(path string, b []byte) (l *List, ok bool, err error) {
	var o ocMirrorList
	if err := yaml.UnmarshalStrict(b, &o); err != nil || o.Kind != Kind || len(o.Items) == 0 || o.Items[0].ImageReference == "" {
		return nil, false, nil
	}
	if o.APIVersion != APIVersion && o.APIVersion != "mirror.openshift.io/v1alpha2" {
		return nil, true, fmt.Errorf("%s: apiVersion %q; fix: use a delete-images.yaml written by oc-mirror v2 or ocm-delete --generate", path, o.APIVersion)
	}
	l = &List{APIVersion: APIVersion, Kind: Kind}
	for i, it := range o.Items {
		item, host, err := ocMirrorItemOf(it)
		if err != nil {
			return nil, true, fmt.Errorf("%s: items[%d].imageReference %q: %v; fix: write docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:<hex>", path, i, it.ImageReference, err)
		}
		if l.Registry == "" {
			l.Registry = host
		}
		if host != l.Registry {
			return nil, true, fmt.Errorf("%s: items[%d].imageReference %q: registry %s, while items[0] names %s; fix: one list per registry", path, i, it.ImageReference, host, l.Registry)
		}
		// Repository and digest go into DELETE URLs: checked whole, as in
		// ocm's own format.
		if err := refs.CheckRepository(item.Repository); err != nil {
			return nil, true, fmt.Errorf("%s: items[%d].imageReference %q: repository %v; fix: write docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:<hex>", path, i, it.ImageReference, err)
		}
		if item.Digest != "" && !verify.ValidDigest(item.Digest) {
			return nil, true, fmt.Errorf("%s: items[%d].imageReference %q: the digest is not sha256:<64 lowercase hex>; fix: write the digest the mirror reports", path, i, it.ImageReference)
		}
		item.Type = it.Type
		l.Items = append(l.Items, item)
	}
	readNotes(b, l)
	return l, true, nil
}

// ocMirrorItemOf turns docker://host/repo:tag or docker://host/repo@digest
// into an item; a tag is resolved to its manifest when deleting.
func ocMirrorItemOf(it ocMirrorItem) (Item, string, error) {
	s, had := strings.CutPrefix(it.ImageReference, "docker://")
	if !had && strings.Contains(s, "://") {
		return Item{}, "", fmt.Errorf("only docker:// references name a registry")
	}
	host, rest, found := strings.Cut(s, "/")
	if !found || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return Item{}, "", fmt.Errorf("no registry host")
	}
	item := Item{Source: it.ImageName}
	if repo, dg, byDigest := strings.Cut(rest, "@"); byDigest {
		// repo:tag@digest: the digest is what goes.
		repo, _, _ = strings.Cut(repo, ":")
		if _, err := name.NewDigest(host+"/"+repo+"@"+dg, name.StrictValidation); err != nil {
			return Item{}, "", err
		}
		item.Repository, item.Digest = repo, dg
		return item, host, nil
	}
	path, tag, err := refs.SplitDestination(rest)
	if err != nil {
		return Item{}, "", err
	}
	item.Repository, item.Tag, item.Destination = path, tag, host+"/"+path+":"+tag
	return item, host, nil
}
