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

// TestParseEachMediaType: each type ocm copies parses to its kind, with its
// blobs or children; what it does not copy is refused with a reason.
func TestParseEachMediaType(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		wantType string
		index    bool
		children int    // index entries
		blobs    int    // config and layers
		err      error  // wrapped, when refused
		msg      string // in the refusal
	}{
		{name: "OCI image", body: `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + cfg + `,` + layer + `}`, wantType: OCIManifest, blobs: 2},
		{name: "Docker v2 image", body: `{"schemaVersion":2,"mediaType":"` + DockerV2 + `",` + cfg + `,` + layer + `}`, wantType: DockerV2, blobs: 2},
		{name: "OCI index", body: `{"schemaVersion":2,"mediaType":"` + OCIIndex + `",` + entry + `}`, wantType: OCIIndex, index: true, children: 1},
		{name: "Docker manifest list", body: `{"schemaVersion":2,"mediaType":"` + DockerList + `",` + entry + `}`, wantType: DockerList, index: true, children: 1},
		{name: "image without layers", body: `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + cfg + `}`, wantType: OCIManifest, blobs: 1},
		{name: "Docker schema 1", body: `{"schemaVersion":1,"name":"x","fsLayers":[]}`, msg: "schema 1"},
		{name: "Docker schema 1 signed", body: `{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}`, msg: "schema 1"},
		{name: "unknown media type", body: `{"schemaVersion":2,"mediaType":"application/vnd.example+json",` + cfg + `}`, msg: "unsupported manifest media type"},
		{name: "not JSON", body: `not json`, err: ErrMalformed},
		{name: "image without config", body: `{"schemaVersion":2,"mediaType":"` + OCIManifest + `",` + layer + `}`, err: ErrMalformed, msg: "without config"},
		{name: "index entry without digest", body: `{"schemaVersion":2,"mediaType":"` + OCIIndex + `","manifests":[{"mediaType":"` + OCIManifest + `","size":4}]}`, err: ErrMalformed, msg: "without digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, mt, err := Parse([]byte(tc.body), "")
			if tc.err != nil || tc.msg != "" {
				if err == nil {
					t.Fatalf("Parse accepted it as %s", mt)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("err = %v, want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mt != tc.wantType || IsIndex(mt) != tc.index {
				t.Fatalf("type %s (index %v), want %s (index %v)", mt, IsIndex(mt), tc.wantType, tc.index)
			}
			if len(m.Manifests) != tc.children || len(m.Blobs()) != tc.blobs {
				t.Fatalf("%d children, %d blobs; want %d, %d", len(m.Manifests), len(m.Blobs()), tc.children, tc.blobs)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"declared", `{"mediaType":"` + DockerList + `"}`, DockerList},
		{"declared wins over shape", `{"mediaType":"` + DockerV2 + `",` + entry + `}`, DockerV2},
		{"schema 1", `{"schemaVersion":1}`, "application/vnd.docker.distribution.manifest.v1+json"},
		{"index by shape", `{"schemaVersion":2,` + entry + `}`, OCIIndex},
		{"image by shape", `{"schemaVersion":2,` + cfg + `}`, OCIManifest},
		{"not JSON: an image", `garbage`, OCIManifest},
	}
	for _, tc := range cases {
		if got := Sniff([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: Sniff = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestNestedDepths(t *testing.T) {
	for depth := 0; depth <= MaxNesting+2; depth++ {
		err := Nested(depth, "sha256:x")
		if tooDeep := depth > MaxNesting; errors.Is(err, ErrTooDeep) != tooDeep || (err != nil) != tooDeep {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
	if err := Nested(MaxNesting+1, "sha256:abc"); err == nil || !strings.Contains(err.Error(), "sha256:abc") {
		t.Errorf("error %v does not name the manifest", err)
	}
}

func TestForeign(t *testing.T) {
	url := []string{"https://example.com/layer"}
	cases := []struct {
		mt   string
		urls []string
		want bool
	}{
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", url, true},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", url, true},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", nil, false}, // nowhere else to get it
		{"application/vnd.oci.image.layer.v1.tar+gzip", url, false},               // a plain layer with mirrors
		{"application/vnd.oci.image.layer.v1.tar+gzip", nil, false},
	}
	for _, tc := range cases {
		if got := (Descriptor{MediaType: tc.mt, URLs: tc.urls}).Foreign(); got != tc.want {
			t.Errorf("Foreign(%s, urls %v) = %v, want %v", tc.mt, tc.urls, got, tc.want)
		}
	}
}

func TestBlobsAndPlatforms(t *testing.T) {
	foreign := Descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Digest: "sha256:f", URLs: []string{"https://example.com/f"}}
	m := &Manifest{
		Config: &Descriptor{Digest: "sha256:c"},
		Layers: []Descriptor{{Digest: "sha256:l1"}, foreign, {Digest: "sha256:l2"}},
	}
	var got []string
	for _, d := range m.Blobs() {
		got = append(got, d.Digest)
	}
	if want := "sha256:c sha256:l1 sha256:l2"; strings.Join(got, " ") != want {
		t.Errorf("Blobs = %v, want %s (config first, foreign layer left out)", got, want)
	}
	if b := (&Manifest{}).Blobs(); len(b) != 0 {
		t.Errorf("Blobs of an empty manifest = %v", b)
	}

	idx := &Manifest{Manifests: []Descriptor{
		{Digest: "sha256:a", Platform: &Platform{OS: "linux", Architecture: "amd64"}},
		{Digest: "sha256:b", Platform: &Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{Digest: "sha256:c"}, // an attestation entry, no platform
	}}
	if got, want := strings.Join(idx.Platforms(), " "), "linux/amd64 linux/arm64/v8"; got != want {
		t.Errorf("Platforms = %q, want %q", got, want)
	}
	var none *Platform
	if got := none.String(); got != "unknown" {
		t.Errorf("nil platform = %q", got)
	}
}

// N17: a descriptor whose digest is not one (too short, not hex, another
// algorithm) makes the manifest malformed where it is first read, with the
// fix, instead of failing only when the copy builds a URL from it.
func TestN17BadDescriptorDigests(t *testing.T) {
	const oci = `"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"`
	const idx = `"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"`
	good := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	desc := func(d string) string {
		return `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","size":3}`
	}
	for _, tt := range []struct{ name, body, want string }{
		{"layer not hex", `{` + oci + `,` + cfg + `,"layers":[` + desc("sha256:zz") + `]}`, `layer 0: digest "sha256:zz"`},
		{"layer too short", `{` + oci + `,` + cfg + `,"layers":[` + desc(good[:70]) + `]}`, "layer 0: digest"},
		{"layer upper case", `{` + oci + `,` + cfg + `,"layers":[` + desc(strings.ToUpper(good)) + `]}`, "layer 0: digest"},
		{"config other algorithm", `{` + oci + `,"config":` + desc("sha512:"+good[7:]) + `,` + layer + `}`, "config digest"},
		{"index entry path", `{` + idx + `,"manifests":[` + desc("sha256:../../x") + `]}`, "index entry 0: digest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.body), "")
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "; fix: ") {
				t.Fatalf("got %v, want ErrMalformed naming %q and the fix", err, tt.want)
			}
		})
	}
	if _, _, err := Parse([]byte(`{`+oci+`,`+cfg+`,`+layer+`}`), ""); err != nil {
		t.Fatalf("a good manifest: %v", err)
	}
}
