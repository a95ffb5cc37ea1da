package manifest

import (
	"errors"
	"strings"
	"testing"
)

const (
	cfg   = `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":2}`
	layer = `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":3}]`
	entry = `"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":4}]`
)

// F2: the body decides what a manifest is; a header, index entry or record
// claiming otherwise is an error naming both, and an empty index is refused.
func TestF2BodyDecidesTheManifestType(t *testing.T) {
	cases := []struct {
		name, body, claimed string
		want                string // media type, or
		err                 error  // the error wrapped
		msg                 []string
	}{
		{"image served as index", `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + cfg + `,` + layer + `}`, OCIIndex, "", ErrMismatch, []string{OCIIndex, OCIManifest}},
		{"image without mediaType served as index", `{"schemaVersion":2,` + cfg + `,` + layer + `}`, OCIIndex, "", ErrMismatch, []string{OCIIndex, OCIManifest}},
		{"docker image served as list", `{"schemaVersion":2,"mediaType":"` + DockerV2 + `",` + cfg + `,` + layer + `}`, DockerList, "", ErrMismatch, []string{DockerList, DockerV2}},
		{"index served as image", `{"schemaVersion":2,"mediaType":"` + OCIIndex + `",` + entry + `}`, OCIManifest, "", ErrMismatch, []string{OCIManifest, OCIIndex}},
		{"body says index, has layers", `{"schemaVersion":2,"mediaType":"` + OCIIndex + `",` + cfg + `,` + layer + `}`, "", "", ErrMismatch, []string{OCIIndex, "config/layers"}},
		{"body says image, has manifests", `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + entry + `}`, "", "", ErrMismatch, []string{OCIManifest, "manifests"}},
		{"both shapes", `{"schemaVersion":2,` + entry + `,` + cfg + `}`, "", "", ErrMalformed, []string{"both"}},
		{"empty index", `{"schemaVersion":2,"mediaType":"` + OCIIndex + `","manifests":[]}`, OCIIndex, "", ErrMalformed, []string{"no manifests"}},
		{"empty index without mediaType", `{"schemaVersion":2,"manifests":[]}`, "", "", ErrMalformed, []string{"no manifests"}},
		{"header with parameters agrees", `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + cfg + `,` + layer + `}`, OCIManifest + "; charset=utf-8", OCIManifest, nil, nil},
		{"generic header", `{"schemaVersion":2,"mediaType":"` + OCIIndex + `",` + entry + `}`, "application/json", OCIIndex, nil, nil},
		{"no mediaType, docker header of the same kind", `{"schemaVersion":2,` + cfg + `,` + layer + `}`, DockerV2, DockerV2, nil, nil},
		{"no mediaType, no header: shape", `{"schemaVersion":2,` + entry + `}`, "", OCIIndex, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, mt, err := Parse([]byte(c.body), c.claimed)
			if c.err == nil {
				if err != nil || mt != c.want || m == nil {
					t.Fatalf("Parse = %q, %v; want %q", mt, err, c.want)
				}
				return
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			for _, s := range c.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

func TestF15NestingCapped(t *testing.T) {
	if err := Nested(MaxNesting, "sha256:x"); err != nil {
		t.Fatalf("depth %d refused: %v", MaxNesting, err)
	}
	if err := Nested(MaxNesting+1, "sha256:x"); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth %d: %v", MaxNesting+1, err)
	}
}
