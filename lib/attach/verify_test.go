package attach_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestN7AttachmentMustBeWhatItsTagSays: any manifest can be pushed under a
// cosign tag (sha256-<hex>.sig) or listed as a referrer; only one that is
// that kind of attachment is carried as one.
func TestN7AttachmentMustBeWhatItsTagSays(t *testing.T) {
	const subject = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const other = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	const blob = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	img := func(mt string, layers []string, subj string) string {
		var ls []string
		for _, l := range layers {
			ls = append(ls, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":1}`, l, blob))
		}
		s := ""
		if subj != "" {
			s = fmt.Sprintf(`,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":1}`, subj)
		}
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[%s]%s}`, mt, blob, strings.Join(ls, ","), s)
	}
	const oci, docker = "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"
	const index = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + blob + `","size":1}]}`
	for _, tc := range []struct {
		name, kind, body, mt string
		ok                   bool
	}{
		{"cosign signature", record.KindSignature, img(oci, []string{"application/vnd.dev.cosign.simplesigning.v1+json", "application/vnd.dev.cosign.simplesigning.v1+json"}, ""), oci, true},
		{"cosign signature, Docker manifest", record.KindSignature, img(docker, []string{"application/vnd.dev.cosign.simplesigning.v1+json"}, ""), docker, true},
		{"an image under .sig", record.KindSignature, img(oci, []string{"application/vnd.oci.image.layer.v1.tar+gzip"}, ""), oci, false},
		{"a signature with an image layer too", record.KindSignature, img(oci, []string{"application/vnd.dev.cosign.simplesigning.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"}, ""), oci, false},
		{"no layers under .sig", record.KindSignature, img(oci, nil, ""), oci, false},
		{"an index under .sig", record.KindSignature, index, "application/vnd.oci.image.index.v1+json", false},
		{"not a manifest under .sig", record.KindSignature, `{"hello":1}`, "application/json", false},
		{"attestation", record.KindAttestation, img(oci, []string{"application/vnd.dsse.envelope.v1+json"}, ""), oci, true},
		{"a signature under .att", record.KindAttestation, img(oci, []string{"application/vnd.dev.cosign.simplesigning.v1+json"}, ""), oci, false},
		{"SPDX SBOM", record.KindSBOM, img(oci, []string{"text/spdx+json"}, ""), oci, true},
		{"CycloneDX SBOM", record.KindSBOM, img(oci, []string{"application/vnd.cyclonedx+json"}, ""), oci, true},
		{"an image under .sbom", record.KindSBOM, img(docker, []string{"application/vnd.docker.image.rootfs.diff.tar.gzip"}, ""), docker, false},
		{"referrer of the image", record.KindReferrer, img(oci, []string{"application/spdx+json"}, subject), oci, true},
		{"referrer of another image", record.KindReferrer, img(oci, []string{"application/spdx+json"}, other), oci, false},
		{"referrer without subject", record.KindReferrer, img(oci, []string{"application/spdx+json"}, ""), oci, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := attach.Verify(record.Attachment{Kind: tc.kind, Digest: blob, Subject: subject}, []byte(tc.body), tc.mt)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, attach.ErrNotAttachment) {
				t.Errorf("error %v is not ErrNotAttachment", err)
			}
		})
	}
}
