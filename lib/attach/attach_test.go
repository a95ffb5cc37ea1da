package attach_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

func TestTagOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sha256:abc", "sha256-abc"},
		{"sha512:0f", "sha512-0f"},
		{"abc", ""},
		{"sha256:", ""},
	} {
		got, err := attach.TagOf(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("TagOf(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Against Debian's docker-registry (no referrers API): the signature comes
// from the cosign tag scheme, the SBOM from the referrers tag schema; both
// reach the destination, where go-containerregistry's own referrers client
// (API, then tag fallback) finds the SBOM.
func TestFindAndCopyThroughTheTagSchemes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs registries")
	}
	ctx := context.Background()
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	o := fixture.Options{Host: src.Host}
	set, err := fixture.Additional(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ubi, _ := set.ByRepo("ubi9/ubi")
	multi, _ := set.ByRepo("multiarch/tools")
	got, err := o.Attach(ctx, "ubi9/ubi", ubi.Digest, "ubi")
	if err != nil {
		t.Fatal(err)
	}
	// One platform of the index only: its attachments are found through the index.
	var child string
	{
		idx, err := remote.Index(mustRef(t, src.Host+"/multiarch/tools@"+multi.Digest))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		child = im.Manifests[2].Digest.String()
	}
	gotChild, err := o.Attach(ctx, "multiarch/tools", child, "s390x")
	if err != nil {
		t.Fatal(err)
	}

	c := registry.New(registry.Options{})
	eng := copier.New(copier.Options{})
	cases := []struct {
		repo, digest, subject string
		want                  fixture.Attached
	}{
		{"ubi9/ubi", ubi.Digest, ubi.Digest, got},
		{"multiarch/tools", multi.Digest, child, gotChild},
	}
	for _, tc := range cases {
		srcRepo, _ := c.Repository(src.Host + "/" + tc.repo)
		dstRepo, _ := c.Repository(dst.Host + "/m/" + tc.repo)
		s := &registry.Repo{Client: c, Name: srcRepo}
		subjects, err := attach.Subjects(ctx, s, tc.digest, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		atts, err := (&attach.Finder{Client: c, Repo: srcRepo}).Find(ctx, subjects)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, a := range atts {
			if a.Subject != tc.subject {
				t.Errorf("%s: attachment %+v names subject %s, want %s", tc.repo, a, a.Subject, tc.subject)
			}
			kinds[a.Kind] = a.Digest
		}
		if kinds[record.KindSignature] != tc.want.Signature || kinds[record.KindReferrer] != tc.want.Referrer || kinds[record.KindReferrersTag] == "" || len(atts) != 3 {
			t.Fatalf("%s: found %+v; want the signature %s, the referrer %s and the referrers tag index", tc.repo, atts, tc.want.Signature, tc.want.Referrer)
		}
		d := &registry.Repo{Client: c, Name: dstRepo}
		if _, err := eng.Copy(ctx, s, tc.digest, d, "v1"); err != nil {
			t.Fatal(err)
		}
		moved, err := attach.Copy(ctx, eng, s, d, atts, true, attach.Reserve("v1"))
		if err != nil || moved != 3 {
			t.Fatalf("%s: copied %d attachments (%v), want 3", tc.repo, moved, err)
		}
		// The consumer's view: referrers of the subject at the destination.
		idx, err := remote.Referrers(mustRef(t, dst.Host+"/m/"+tc.repo+"@"+tc.subject).(name.Digest))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != tc.want.Referrer || im.Manifests[0].ArtifactType != "application/spdx+json" {
			t.Errorf("%s: referrers at the destination %+v, want the SBOM %s", tc.repo, im.Manifests, tc.want.Referrer)
		}
		sigTag, _ := attach.TagOf(tc.subject)
		if d, err := remote.Head(mustRef(t, dst.Host+"/m/"+tc.repo+":"+sigTag+".sig")); err != nil || d.Digest.String() != tc.want.Signature {
			t.Errorf("%s: signature tag at the destination: %v %v, want %s", tc.repo, d, err, tc.want.Signature)
		}
		// A rerun copies nothing.
		if moved, err := attach.Copy(ctx, eng, s, d, atts, true, attach.Reserve("v1")); err != nil || moved != 0 {
			t.Errorf("%s: rerun copied %d (%v), want 0", tc.repo, moved, err)
		}
	}
}

// A digest-only image is mirrored under the tag sha256-<hex>, the name the
// referrers tag schema wants too: the image keeps it.
func TestReservedTagIsNotOverwritten(t *testing.T) {
	if testing.Short() {
		t.Skip("needs registries")
	}
	ctx := context.Background()
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	o := fixture.Options{Host: src.Host}
	set, err := fixture.Additional(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := set.ByRepo("digestonly/app")
	if _, err := o.Attach(ctx, "digestonly/app", app.Digest, "app"); err != nil {
		t.Fatal(err)
	}
	c := registry.New(registry.Options{})
	srcRepo, _ := c.Repository(src.Host + "/digestonly/app")
	dstRepo, _ := c.Repository(dst.Host + "/digestonly/app")
	s := &registry.Repo{Client: c, Name: srcRepo}
	d := &registry.Repo{Client: c, Name: dstRepo}
	tag, _ := attach.TagOf(app.Digest)
	eng := copier.New(copier.Options{})
	if _, err := eng.Copy(ctx, s, app.Digest, d, tag); err != nil {
		t.Fatal(err)
	}
	atts, err := (&attach.Finder{Client: c, Repo: srcRepo}).Find(ctx, []string{app.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attach.Copy(ctx, eng, s, d, atts, true, attach.Reserve(tag)); err != nil {
		t.Fatal(err)
	}
	h, err := remote.Head(mustRef(t, dst.Host+"/digestonly/app:"+tag))
	if err != nil || h.Digest.String() != app.Digest {
		t.Fatalf("tag %s at the destination names %v (%v), want the image %s", tag, h, err, app.Digest)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A registry with the OCI 1.1 referrers API (go-containerregistry's own,
// with WithReferrersSupport): the referrer comes from the API, no tag
// schema index is asked for or copied; a destination with the API serves
// it through its API after the copy, one without it through the referrers
// tag schema's index ocm writes.
func TestFindAndCopyThroughTheReferrersAPI(t *testing.T) {
	ctx := context.Background()
	start := func() string {
		srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	srcHost, dstHost := start(), start()
	o := fixture.Options{Host: srcHost}
	set, err := fixture.Additional(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ubi, _ := set.ByRepo("ubi9/ubi")
	want, err := o.Attach(ctx, "ubi9/ubi", ubi.Digest, "ubi")
	if err != nil {
		t.Fatal(err)
	}
	c := registry.New(registry.Options{})
	srcRepo, _ := c.Repository(srcHost + "/ubi9/ubi")
	atts, err := (&attach.Finder{Client: c, Repo: srcRepo}).Find(ctx, []string{ubi.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 || atts[0].Kind != record.KindSignature || atts[1].Kind != record.KindReferrer || atts[1].Digest != want.Referrer || atts[1].ArtifactType != "application/spdx+json" {
		t.Fatalf("found %+v; want the signature and the referrer %s (application/spdx+json), no tag index", atts, want.Referrer)
	}
	s := &registry.Repo{Client: c, Name: srcRepo}
	// To a registry with the API, and to Debian's docker-registry without
	// it, where the referrers tag schema's index is written for them.
	debian := testenv.Start(t, testenv.RegistryOptions{})
	for _, host := range []string{dstHost, debian.Host} {
		dstRepo, _ := c.Repository(host + "/ubi9/ubi")
		d := &registry.Repo{Client: c, Name: dstRepo}
		eng := copier.New(copier.Options{})
		if _, err := eng.Copy(ctx, s, ubi.Digest, d, "latest"); err != nil {
			t.Fatal(err)
		}
		for run := 0; run < 2; run++ { // the second run finds the index up to date
			if _, err := attach.Copy(ctx, eng, s, d, atts, true, attach.Reserve("latest")); err != nil {
				t.Fatal(err)
			}
		}
		idx, err := remote.Referrers(mustRef(t, host+"/ubi9/ubi@"+ubi.Digest).(name.Digest))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != want.Referrer || im.Manifests[0].ArtifactType != "application/spdx+json" {
			t.Errorf("%s: referrers %+v, want %s", host, im.Manifests, want.Referrer)
		}
	}
}
