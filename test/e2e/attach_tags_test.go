package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// mirrorHas returns the digest ref names at a test registry, or "".
func mirrorHas(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, remote.WithContext(context.Background()))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// checkPushedInPlace: every record that says pushed has its digest at its
// target, and every tagged attachment it names is at that tag.
func checkPushedInPlace(t *testing.T, recs []*record.Record) {
	t.Helper()
	for _, rec := range recs {
		if rec.Status != record.StatusPushed {
			continue
		}
		if got := mirrorHas(t, rec.Target); got != rec.Digest {
			t.Errorf("%s says pushed %s to %s; the mirror has %q there", rec.Source, rec.Digest, rec.Target, got)
		}
		repo := rec.Target[:strings.LastIndex(rec.Target, ":")]
		for _, a := range rec.Attachments {
			if a.Tag == "" || a.Kind == record.KindReferrersTag {
				continue
			}
			if got := mirrorHas(t, repo+":"+a.Tag); got != a.Digest {
				t.Errorf("%s says its %s %s went to %s:%s; the mirror has %q there", rec.Source, a.Kind, a.Digest, repo, a.Tag, got)
			}
		}
	}
}

// TestN7AttachmentTagCannotReplaceAnImage: an image listed under a tag
// that is another listed image's cosign signature tag (sha256-<hex>.sig)
// keeps that tag at the mirror. The signed image fails with a collision
// naming both (exit 2); before, its signature replaced the listed image
// while that image's record said pushed.
func TestN7AttachmentTagCannotReplaceAnImage(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	other := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1024)
	a, _ := set.ByRepo("ubi9/ubi")
	if _, err := (fixture.Options{Host: src.Host}).Attach(context.Background(), a.Repo, a.Digest, "n7"); err != nil {
		t.Fatal(err)
	}
	sigTag := "sha256-" + strings.TrimPrefix(a.Digest, "sha256:") + ".sig"
	// B: another image, upstream under A's signature tag.
	skopeoCopy(t, src.Host+"/ubi9/ubi-minimal:latest", other.Host+"/ubi9/ubi:"+sigTag)
	b := skopeoDigest(t, "docker://"+other.Host+"/ubi9/ubi:"+sigTag, "--tls-verify=false")
	dir := t.TempDir()
	// B first, one image at a time: B is at the mirror before A's signature
	// is copied.
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), iscHead+fmt.Sprintf("  - name: %s/ubi9/ubi:%s\n  - name: %s/ubi9/ubi:latest\n", other.Host, sigTag, src.Host))
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl", isc)); r.code != 0 {
		t.Fatalf("plan and fetch: exit %d", r.code)
	}
	for _, tc := range []struct{ name, push string }{
		{"mirror to mirror", "ocm-push docker://%s --image-workers 1 < plan.jsonl"},
		{"disk to mirror", "ocm-push docker://%s --image-workers 1 --cache cache < fetched.jsonl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := testenv.Start(t, testenv.RegistryOptions{})
			r := sh(t, dir, nil, fmt.Sprintf(tc.push, dst.Host)+" > pushed.jsonl")
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (a collision)", r.code)
			}
			if got := mirrorHas(t, dst.Host+"/ubi9/ubi:"+sigTag); got != b {
				t.Errorf("the mirror's ubi9/ubi:%s is %q, want the listed image %s", sigTag, got, b)
			}
			recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
			checkPushedInPlace(t, recs)
			for _, rec := range recs {
				switch rec.Digest {
				case b:
					if rec.Status != record.StatusPushed {
						t.Errorf("%s: %s %s, want pushed", rec.Source, rec.Status, rec.Error)
					}
				case a.Digest:
					if rec.Status != record.StatusFailed || !strings.Contains(rec.Error, "destination collision") || !strings.Contains(rec.Error, sigTag) {
						t.Errorf("%s: %s %q, want failed naming the collision on %s", rec.Source, rec.Status, rec.Error, sigTag)
					}
				}
			}
		})
	}
}

// TestN7NonSignatureUnderSigTagNotCarried: an image pushed upstream under
// another image's signature tag, and a referrer whose subject is another
// image, are not copied as attachments: one warning line each, the image
// itself is pushed (exit 0). Before, any manifest under a .sig tag was
// carried as the image's signature.
func TestN7NonSignatureUnderSigTagNotCarried(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1024)
	a, _ := set.ByRepo("ubi9/ubi")
	minimal, _ := set.ByRepo("ubi9/ubi-minimal")
	hexA := strings.TrimPrefix(a.Digest, "sha256:")
	sigTag := "sha256-" + hexA + ".sig"
	skopeoCopy(t, src.Host+"/ubi9/ubi-minimal:latest", src.Host+"/ubi9/ubi:"+sigTag)

	// A referrer of ubi-minimal, listed in ubi9/ubi's referrers tag index
	// of A (the registry has no referrers API).
	sbom, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3"}`), "application/spdx+json")})
	if err != nil {
		t.Fatal(err)
	}
	sbom = mutate.ConfigMediaType(mutate.MediaType(sbom, types.OCIManifestSchema1), "application/spdx+json")
	sbom = mutate.Subject(sbom, v1.Descriptor{MediaType: types.MediaType(minimal.MediaType), Digest: mustHash(t, minimal.Digest), Size: 1}).(v1.Image)
	sbomDigest, _ := sbom.Digest()
	if err := remote.Write(mustRef(t, src.Host+"/ubi9/ubi@"+sbomDigest.String()), sbom); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: sbom, Descriptor: v1.Descriptor{ArtifactType: "application/spdx+json"}})
	if err := remote.WriteIndex(mustRef(t, src.Host+"/ubi9/ubi:sha256-"+hexA), idx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), iscHead+fmt.Sprintf("  - name: %s/ubi9/ubi:latest\n", src.Host))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-push docker://%s > pushed.jsonl", isc, dst.Host))
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	for _, want := range []string{"signature " + sigTag, "referrer " + sbomDigest.String()} {
		if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "not copied") {
			t.Errorf("no warning naming %q", want)
		}
	}
	if got := mirrorHas(t, dst.Host+"/ubi9/ubi:"+sigTag); got != "" {
		t.Errorf("the image under %s was copied as a signature (%s)", sigTag, got)
	}
	if got := mirrorHas(t, dst.Host+"/ubi9/ubi@"+sbomDigest.String()); got != "" {
		t.Errorf("the referrer of another image was copied")
	}
	recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
	checkPushedInPlace(t, recs)
	if len(recs) != 1 || recs[0].Status != record.StatusPushed {
		t.Fatalf("records %+v, want ubi9/ubi pushed", recs)
	}
	if len(recs[0].Attachments) != 0 {
		t.Errorf("attachments %+v, want none", recs[0].Attachments)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
