// Package manifest reads image manifests and indexes (OCI and Docker v2)
// just far enough to copy them: their media type, blobs and children.
package manifest

import (
	"encoding/json"
	"errors"
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
	OS           string   `json:"os"`
	Architecture string   `json:"architecture"`
	Variant      string   `json:"variant,omitempty"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Features     []string `json:"features,omitempty"`
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
	// Subject is what an OCI referrer is attached to.
	Subject *Descriptor `json:"subject,omitempty"`
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

// MaxNesting bounds how deep indexes may point at indexes. Real images
// have one level (an index of platform manifests); a chain of thousands is
// an attack on the time and memory of whoever walks it.
const MaxNesting = 8

// ErrTooDeep is wrapped by Nested's error.
var ErrTooDeep = errors.New("indexes nested too deep")

// Nested checks the depth of an index entry about to be read (the
// top-level manifest is depth 0).
func Nested(depth int, digest string) error {
	if depth > MaxNesting {
		return fmt.Errorf("manifest %s is more than %d indexes deep: %w", digest, MaxNesting, ErrTooDeep)
	}
	return nil
}

// ErrMismatch is wrapped by Parse's error when the media type a registry
// header, an index entry or a record claims disagrees with the body.
var ErrMismatch = errors.New("media type disagrees with the manifest body")

// ErrMalformed is wrapped by Parse's error for a body that is not a usable
// manifest or index (bad JSON, both or neither shape, an empty index).
var ErrMalformed = errors.New("malformed manifest")

// bodyType is the media type the body itself says, or its shape shows: a
// body with manifests is an index, one with config or layers an image.
func bodyType(body []byte) (string, error) {
	var m struct {
		MediaType     string          `json:"mediaType"`
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
		Layers        json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("manifest is not valid JSON: %v: %w", err, ErrMalformed)
	}
	isIdx := m.Manifests != nil
	isImg := m.Config != nil || m.Layers != nil
	if isIdx && isImg {
		return "", fmt.Errorf("manifest body has both manifests (an index) and config/layers (an image): %w", ErrMalformed)
	}
	switch {
	case m.MediaType != "":
		if IsIndex(m.MediaType) && isImg {
			return "", fmt.Errorf("manifest body says mediaType %s but has config/layers, as an image does: %w", m.MediaType, ErrMismatch)
		}
		if (m.MediaType == OCIManifest || m.MediaType == DockerV2) && isIdx {
			return "", fmt.Errorf("manifest body says mediaType %s but has manifests, as an index does: %w", m.MediaType, ErrMismatch)
		}
		return m.MediaType, nil
	case m.SchemaVersion == 1:
		return dockerSchema + "+json", nil
	case isIdx:
		return OCIIndex, nil
	default:
		return OCIManifest, nil
	}
}

// Parse reads a manifest. The body decides what it is: claimed (a
// registry's Content-Type, an index entry's or a record's mediaType; "" or
// a generic JSON type when unknown) must agree with it, else the error
// names both. An index must list at least one manifest.
func Parse(body []byte, claimed string) (*Manifest, string, error) {
	mt, err := bodyType(body)
	if err != nil {
		return nil, claimed, err
	}
	if i := strings.IndexByte(claimed, ';'); i >= 0 {
		claimed = claimed[:i]
	}
	claimed = strings.TrimSpace(claimed)
	switch claimed {
	case "", "application/json", "text/plain", "application/octet-stream", mt:
	default:
		// A body without mediaType (allowed by OCI) agrees with a claim of
		// the same kind; the claim then names the flavour.
		if _, err := bodyMediaType(body); err == nil || !sameKind(claimed, mt) {
			return nil, mt, fmt.Errorf("media type %s is claimed for a manifest whose body is %s: %w", claimed, mt, ErrMismatch)
		}
		mt = claimed
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
		return nil, mt, fmt.Errorf("manifest is not valid JSON: %v: %w", err, ErrMalformed)
	}
	if IsIndex(mt) {
		if len(m.Manifests) == 0 {
			return nil, mt, fmt.Errorf("index lists no manifests: it has no image to copy: %w", ErrMalformed)
		}
		for _, d := range m.Manifests {
			if d.Digest == "" {
				return nil, mt, fmt.Errorf("index entry without digest: %w", ErrMalformed)
			}
		}
	} else if m.Config == nil || m.Config.Digest == "" {
		return nil, mt, fmt.Errorf("image manifest without config: %w", ErrMalformed)
	}
	// Every digest goes into a URL or a file name later: one that is not a
	// digest fails here, where the manifest is first read (the plan), not
	// at the copy.
	for i, d := range m.Manifests {
		if !validDigest(d.Digest) {
			return nil, mt, fmt.Errorf("index entry %d: digest %q is not sha256:<64 lowercase hex>: %w; fix: %s", i, d.Digest, ErrMalformed, badDigestFix)
		}
	}
	if m.Config != nil && !validDigest(m.Config.Digest) {
		return nil, mt, fmt.Errorf("config digest %q is not sha256:<64 lowercase hex>: %w; fix: %s", m.Config.Digest, ErrMalformed, badDigestFix)
	}
	for i, l := range m.Layers {
		if !validDigest(l.Digest) {
			return nil, mt, fmt.Errorf("layer %d: digest %q is not sha256:<64 lowercase hex>: %w; fix: %s", i, l.Digest, ErrMalformed, badDigestFix)
		}
	}
	return &m, mt, nil
}

// badDigestFix: no copy of such an image can succeed.
const badDigestFix = "the image's manifest is broken at its source: have the image pushed again there, or leave it out of the image set"

// validDigest is verify.ValidDigest, which this package (floor 0) cannot
// import: sha256 and 64 lowercase hex digits.
func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func sameKind(a, b string) bool {
	known := func(t string) bool { return t == OCIIndex || t == DockerList || t == OCIManifest || t == DockerV2 }
	return known(a) && known(b) && IsIndex(a) == IsIndex(b)
}

// bodyMediaType is the mediaType the body writes; an error when it writes none.
func bodyMediaType(body []byte) (string, error) {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(body, &m) != nil || m.MediaType == "" {
		return "", errors.New("no mediaType")
	}
	return m.MediaType, nil
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

// Selection names the platforms ("os/arch" or "os/arch/variant") a sparse
// copy keeps of an index: the index itself is copied unchanged (same
// digest), only the entries selected with their blobs. Nil keeps every
// entry (a whole copy).
type Selection map[string]bool

// Select returns the selection of platforms, or nil (everything) when there
// are none.
func Select(platforms []string) Selection {
	if len(platforms) == 0 {
		return nil
	}
	s := Selection{}
	for _, p := range platforms {
		s[p] = true
	}
	return s
}

// Keeps reports whether the index entry d is copied: every entry for a nil
// selection; else one whose platform is selected, by os/arch or with its
// variant. An entry without a platform (an attestation manifest) is not.
func (s Selection) Keeps(d Descriptor) bool {
	if s == nil {
		return true
	}
	if d.Platform == nil {
		return false
	}
	return s.KeepsName(d.Platform.String())
}

// KeepsName is Keeps for a platform named "os/arch[/variant]" (a record's
// platforms).
func (s Selection) KeepsName(p string) bool {
	if s == nil {
		return true
	}
	parts := strings.SplitN(p, "/", 3)
	return s[p] || (len(parts) == 3 && s[parts[0]+"/"+parts[1]])
}

// Kept lists the entries of index m that s keeps.
func (s Selection) Kept(m *Manifest) []Descriptor {
	var out []Descriptor
	for _, d := range m.Manifests {
		if s.Keeps(d) {
			out = append(out, d)
		}
	}
	return out
}
