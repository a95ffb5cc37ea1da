// Package release reads OpenShift release payload images: the component
// images a release is made of (release-manifests/image-references) and its
// metadata (release-manifests/release-metadata).
package release

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/imagefs"
)

// Files inside a payload image.
const (
	ImageReferences = "release-manifests/image-references"
	Metadata        = "release-manifests/release-metadata"
	// BootImages is the installer's ConfigMap of RHCOS boot images; its
	// data.stream (CoreOS stream metadata JSON) names the KubeVirt
	// container image per architecture.
	BootImages = "release-manifests/0000_50_installer_coreos-bootimages.yaml"
)

// Payload is what a release image says about itself.
type Payload struct {
	Version    string
	Previous   []string
	Components []Component // sorted by name
	// KubeVirt maps a stream architecture (x86_64, s390x, ...) to the
	// KubeVirt container image by digest, from BootImages.
	KubeVirt map[string]string
}

// Component is one image of the release.
type Component struct {
	Name  string // e.g. "etcd"
	Image string // pullspec by digest
}

type imageStream struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Tags []struct {
			Name string `json:"name"`
			From struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"from"`
		} `json:"tags"`
	} `json:"spec"`
}

type metadata struct {
	Kind     string   `json:"kind"`
	Version  string   `json:"version"`
	Previous []string `json:"previous"`
}

// Read reads the payload digest from src (an index is read through its
// linux/amd64 entry, or its first: every entry lists the same components).
func Read(ctx context.Context, src imagefs.Source, digest, ref string) (*Payload, error) {
	img, err := imagefs.Resolve(ctx, src, digest, "linux/amd64")
	if err != nil {
		img, err = imagefs.Resolve(ctx, src, digest, "")
	}
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", ref, err)
	}
	files, err := imagefs.ReadFiles(ctx, src, img, []string{ImageReferences, Metadata, BootImages}, 32<<20)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", ref, err)
	}
	irefs, ok := files[ImageReferences]
	if !ok {
		return nil, fmt.Errorf("release %s: no %s in the image; fix: is this a release payload image?", ref, ImageReferences)
	}
	var is imageStream
	if err := json.Unmarshal(irefs, &is); err != nil {
		return nil, fmt.Errorf("release %s: %s: %v", ref, ImageReferences, err)
	}
	p := &Payload{Version: is.Metadata.Name}
	if mb, ok := files[Metadata]; ok {
		var md metadata
		if err := json.Unmarshal(mb, &md); err != nil {
			return nil, fmt.Errorf("release %s: %s: %v", ref, Metadata, err)
		}
		if md.Version != "" {
			p.Version = md.Version
		}
		p.Previous = md.Previous
	}
	if bb, ok := files[BootImages]; ok {
		if p.KubeVirt, err = kubeVirtImages(bb); err != nil {
			return nil, fmt.Errorf("release %s: %s: %w", ref, BootImages, err)
		}
	}
	for _, t := range is.Spec.Tags {
		if t.From.Kind != "" && t.From.Kind != "DockerImage" {
			continue
		}
		if _, err := name.NewDigest(t.From.Name); err != nil {
			return nil, fmt.Errorf("release %s: component %s: bad image reference %q (%v); a release must name its components by digest", ref, t.Name, t.From.Name, err)
		}
		p.Components = append(p.Components, Component{Name: t.Name, Image: t.From.Name})
	}
	if len(p.Components) == 0 {
		return nil, fmt.Errorf("release %s: %s lists no component images", ref, ImageReferences)
	}
	sort.Slice(p.Components, func(i, j int) bool { return p.Components[i].Name < p.Components[j].Name })
	return p, nil
}

// kubeVirtImages reads the KubeVirt container image of each architecture
// from the boot images ConfigMap.
func kubeVirtImages(b []byte) (map[string]string, error) {
	var cm struct {
		Data struct {
			Stream string `json:"stream"`
		} `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		return nil, err
	}
	if cm.Data.Stream == "" {
		return nil, nil
	}
	var st struct {
		Architectures map[string]struct {
			Images struct {
				Kubevirt struct {
					DigestRef string `json:"digest-ref"`
				} `json:"kubevirt"`
			} `json:"images"`
		} `json:"architectures"`
	}
	if err := json.Unmarshal([]byte(cm.Data.Stream), &st); err != nil {
		return nil, fmt.Errorf("data.stream: %v", err)
	}
	out := map[string]string{}
	for arch, a := range st.Architectures {
		ref := a.Images.Kubevirt.DigestRef
		if ref == "" {
			continue
		}
		if _, err := name.NewDigest(ref); err != nil {
			return nil, fmt.Errorf("architectures.%s.images.kubevirt.digest-ref %q is not an image by digest", arch, ref)
		}
		out[arch] = ref
	}
	return out, nil
}
