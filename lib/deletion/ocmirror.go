package deletion

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/refs"
)

// ocMirrorList is oc-mirror v2's delete-images.yaml (v2alpha1
// DeleteImageList: items of imageName, imageReference, type). Its docs also
// show apiVersion v1alpha2 with relatedBlobs per item.
type ocMirrorList struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Items      []ocMirrorItem `json:"items"`
}

type ocMirrorItem struct {
	ImageName      string   `json:"imageName"`
	ImageReference string   `json:"imageReference"`
	Type           string   `json:"type"`
	RelatedBlobs   []string `json:"relatedBlobs,omitempty"` // not used: only manifests are deleted, as oc-mirror does
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
		l.Items = append(l.Items, item)
	}
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
