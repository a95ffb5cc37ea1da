package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// raceSet builds upstream content that makes a mirror registry race: two
// indexes each under two tags (their platforms' manifests and blobs pushed
// twice at once) and images sharing a base layer. It returns the image set
// configuration.
func raceSet(t *testing.T, dir string, src *testenv.Registry) string {
	t.Helper()
	set := populateSized(t, src, 1024)
	for _, c := range [][2]string{{"multiarch/tools:1.0", "multiarch/tools:latest"}, {"docker/list:v1", "docker/list:latest"}} {
		from, err := name.ParseReference(src.Host+"/"+c[0], name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Get(from)
		if err != nil {
			t.Fatal(err)
		}
		to, err := name.NewTag(src.Host+"/"+c[1], name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(to, d); err != nil {
			t.Fatal(err)
		}
	}
	return writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set, src.Host+"/multiarch/tools:latest", src.Host+"/docker/list:latest"))
}

// checkMirrored checks that every record of out was pushed and that the
// mirror holds each at its target, with every platform manifest of an index.
func checkMirrored(t *testing.T, out string, want int) {
	t.Helper()
	recs := records(t, out)
	if len(recs) != want {
		t.Errorf("%d records, want %d", len(recs), want)
	}
	for _, rec := range recs {
		if rec.Status == record.StatusSkipped {
			continue // blocked by the image set
		}
		if rec.Status != record.StatusPushed {
			t.Errorf("%s: %s %s", rec.Source, rec.Status, rec.Error)
			continue
		}
		ref, err := name.ParseReference(rec.Target, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, remote.WithContext(context.Background()))
		if err != nil {
			t.Errorf("%s at the mirror: %v", rec.Target, err)
			continue
		}
		if desc.Digest.String() != rec.Digest {
			t.Errorf("%s at the mirror is %s, record says %s", rec.Target, desc.Digest, rec.Digest)
		}
		if !desc.MediaType.IsIndex() {
			continue
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err == nil {
				_, err = img.Layers()
			}
			if err == nil {
				_, err = img.RawConfigFile()
			}
			if err != nil {
				t.Errorf("%s platform %s at the mirror: %v", rec.Target, m.Digest, err)
			}
		}
	}
}

// TestN14PushesInARowAllSucceed: sixteen pushes of a set with indexes under
// two tags and shared layers, 8 disk to mirror and 8 mirror to mirror, each
// to a fresh mirror registry, all exit 0 with every image in place. Pushing
// one index under two tags at once made the registry answer 400
// DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN now and then.
func TestN14PushesInARowAllSucceed(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	isc := raceSet(t, dir, src)
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl", isc)); r.code != 0 {
		t.Fatalf("plan and fetch: exit %d", r.code)
	}
	n := len(records(t, sh(t, dir, nil, "cat plan.jsonl").stdout))
	failed := 0
	for i := 0; i < 16; i++ {
		cmd := "ocm-push docker://%s --cache cache < fetched.jsonl > pushed.jsonl"
		if i%2 == 1 {
			cmd = "ocm-push docker://%s < plan.jsonl > pushed.jsonl"
		}
		dst, err := testenv.StartRegistry(context.Background(), t.TempDir(), testenv.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := sh(t, dir, nil, fmt.Sprintf(cmd, dst.Host))
		if r.code != 0 {
			failed++
			t.Errorf("run %d (%s): exit %d", i+1, strings.Fields(cmd)[2], r.code)
		}
		checkMirrored(t, sh(t, dir, nil, "cat pushed.jsonl").stdout, n)
		dst.Stop()
	}
	t.Logf("%d of 16 pushes failed", failed)
}

// TestN14ConcurrentPushesToOneMirror: two ocm-push of the same set to one
// mirror at the same time both end exit 0, every image in place.
func TestN14ConcurrentPushesToOneMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	isc := raceSet(t, dir, src)
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl", isc)); r.code != 0 {
		t.Fatalf("plan and fetch: exit %d", r.code)
	}
	n := len(records(t, sh(t, dir, nil, "cat plan.jsonl").stdout))
	for _, mode := range []string{"--cache cache < fetched.jsonl", "< plan.jsonl"} {
		dst := testenv.Start(t, testenv.RegistryOptions{})
		r := sh(t, dir, nil, fmt.Sprintf("ocm-push docker://%[1]s %[2]s > a.jsonl & ocm-push docker://%[1]s %[2]s > b.jsonl; b=$?; wait $!; a=$?; echo $a $b", dst.Host, mode))
		if strings.TrimSpace(r.stdout) != "0 0" {
			t.Errorf("two concurrent pushes (%s): exit codes %q, want 0 0", mode, strings.TrimSpace(r.stdout))
		}
		for _, f := range []string{"a.jsonl", "b.jsonl"} {
			checkMirrored(t, sh(t, dir, nil, "cat "+f).stdout, n)
		}
	}
}
