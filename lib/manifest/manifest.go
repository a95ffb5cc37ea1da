// Package manifest reads image manifests and indexes (OCI and Docker v2)
// just far enough to copy them: their media type, blobs and children.
package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Media types ocm copies.
const (
	OCIIndex     = "application/vnd.oci.image.index.v1+json"
	OCIManifest  = "application/vnd.oci.image.manifest.v1+json"
	DockerList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerV2     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerSchema = "application/vnd.docker.distribution.manifest.v1"
)

// Platform of an index entry.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p *Platform) String() string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Descriptor points at a blob or manifest.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	URLs        []string          `json:"urls,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// ArtifactType is set on the entries of a referrers index.
	ArtifactType string `json:"artifactType,omitempty"`
}

// Foreign reports a non-distributable layer (Windows base layers): it lives
// at its URLs, and registries do not hold it.
func (d Descriptor) Foreign() bool {
	return len(d.URLs) > 0 && (strings.Contains(d.MediaType, "foreign") || strings.Contains(d.MediaType, "nondistributable"))
}

// Manifest is an image manifest or an index.
type Manifest struct {
	MediaType string       `json:"mediaType"`
	Config    *Descriptor  `json:"config,omitempty"`
	Layers    []Descriptor `json:"layers,omitempty"`
	Manifests []Descriptor `json:"manifests,omitempty"`
	// Annotations and labels are not needed to copy.
}

// IsIndex reports whether mt is an index or manifest list.
func IsIndex(mt string) bool { return mt == OCIIndex || mt == DockerList }

// Sniff returns the media type a manifest declares, or guesses it from its
// shape (OCI lets mediaType be absent).
func Sniff(body []byte) string {
	var m struct {
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		SchemaVersion int             `json:"schemaVersion"`
	}
	_ = json.Unmarshal(body, &m)
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.SchemaVersion == 1:
		return dockerSchema + "+json"
	case m.Manifests != nil:
		return OCIIndex
	default:
		return OCIManifest
	}
}

// Parse reads a manifest of media type mt ("" = sniff).
func Parse(body []byte, mt string) (*Manifest, string, error) {
	if mt == "" || mt == "application/json" {
		mt = Sniff(body)
	}
	if strings.HasPrefix(mt, dockerSchema) {
		return nil, mt, fmt.Errorf("Docker schema 1 manifests are not supported (deprecated since 2019); fix: rebuild or re-push the image with a current tool")
	}
	switch mt {
	case OCIIndex, DockerList, OCIManifest, DockerV2:
	default:
		return nil, mt, fmt.Errorf("unsupported manifest media type %q", mt)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, mt, fmt.Errorf("manifest is not valid JSON: %v", err)
	}
	if IsIndex(mt) {
		for _, d := range m.Manifests {
			if d.Digest == "" {
				return nil, mt, fmt.Errorf("index entry without digest")
			}
		}
	} else if m.Config == nil || m.Config.Digest == "" {
		return nil, mt, fmt.Errorf("image manifest without config")
	}
	return &m, mt, nil
}

// Blobs lists the config and layers an image manifest needs in a registry
// (foreign layers excluded).
func (m *Manifest) Blobs() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !l.Foreign() {
			out = append(out, l)
		}
	}
	return out
}

// Platforms lists the platforms of an index's entries.
func (m *Manifest) Platforms() []string {
	var out []string
	for _, d := range m.Manifests {
		if d.Platform != nil {
			out = append(out, d.Platform.String())
		}
	}
	return out
}
