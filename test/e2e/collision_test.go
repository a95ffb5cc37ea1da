package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// skopeoCopy copies an image between test registries (plain HTTP).
func skopeoCopy(t *testing.T, from, to string) {
	t.Helper()
	if out, err := testenv.Skopeo(context.Background(), "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+from, "docker://"+to); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

const iscHead = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n"

// TestF6DestinationCollisionAtPlan: the same repo:tag on two registries with
// different images stops the plan before any record is written (exit 2
// naming both sources and the destination), so nothing reaches the mirror.
// The same image reached twice (two registries, tag and tag@digest) is not a
// collision.
func TestF6DestinationCollisionAtPlan(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	other := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	ubi, _ := set.ByRepo("ubi9/ubi")
	// other's ubi9/ubi:latest is a different image; its :9.4 the same one.
	skopeoCopy(t, src.Host+"/ubi9/ubi-minimal:latest", other.Host+"/ubi9/ubi:latest")
	skopeoCopy(t, src.Host+"/ubi9/ubi:9.4", other.Host+"/ubi9/ubi:9.4")
	dir := t.TempDir()
	target := "docker://" + dst.Host

	// Listed after an image that does not collide, which must not go out either.
	writeFile(t, filepath.Join(dir, "clash.yaml"), iscHead+fmt.Sprintf("  - name: %[1]s/docker/legacy:v1\n  - name: %[1]s/ubi9/ubi:latest\n  - name: %[2]s/ubi9/ubi:latest\n", src.Host, other.Host))
	r := sh(t, dir, nil, "ocm-plan -c clash.yaml > plan.jsonl")
	for _, want := range []string{src.Host + "/ubi9/ubi:latest", other.Host + "/ubi9/ubi:latest", "both map to ubi9/ubi:latest", "clash.yaml"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("plan message lacks %q", want)
		}
	}
	if r.code != 2 {
		t.Errorf("plan exit %d, want 2", r.code)
	}
	if out := sh(t, dir, nil, "cat plan.jsonl"); out.stdout != "" {
		t.Errorf("a colliding plan wrote records:\n%s", out.stdout)
	}
	if r := sh(t, dir, nil, "ocm-plan -c clash.yaml | ocm-push "+target+" > pushed.jsonl"); r.code != 2 {
		t.Errorf("plan | push exit %d, want 2", r.code)
	}
	for _, ref := range []string{"/ubi9/ubi:latest", "/docker/legacy:v1"} {
		if _, err := testenv.SkopeoDigest(context.Background(), target+ref, "--tls-verify=false"); err == nil {
			t.Errorf("%s reached the mirror from a colliding plan", ref)
		}
	}

	// The same image twice: from two registries, and by tag and tag@digest.
	writeFile(t, filepath.Join(dir, "same.yaml"), iscHead+fmt.Sprintf("  - name: %[1]s/ubi9/ubi:9.4\n  - name: %[2]s/ubi9/ubi:9.4\n  - name: %[1]s/ubi9/ubi:latest\n  - name: %[1]s/ubi9/ubi:latest@%[3]s\n", src.Host, other.Host, ubi.Digest))
	r = sh(t, dir, nil, "ocm-plan -c same.yaml | ocm-push "+target+" > pushed.jsonl")
	if r.code != 0 {
		t.Fatalf("same image twice: exit %d, want 0", r.code)
	}
	recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for _, rec := range recs {
		if rec.Status != record.StatusPushed {
			t.Errorf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
	}
	for _, ref := range []string{"/ubi9/ubi:9.4", "/ubi9/ubi:latest"} {
		if got := skopeoDigest(t, target+ref, "--tls-verify=false"); got != ubi.Digest {
			t.Errorf("%s: %s, want %s", ref, got, ubi.Digest)
		}
	}
}

// TestF6DestinationCollisionAtPush: --max-nested-paths 2 folds a/b-c:1 and
// a/b/c:1 (different images) into a/b-c:1. Push refuses the second with
// exit 2 naming both sources and the target; the first keeps the target.
func TestF6DestinationCollisionAtPush(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	ubi, _ := set.ByRepo("ubi9/ubi")
	skopeoCopy(t, src.Host+"/ubi9/ubi:latest", src.Host+"/a/b-c:1")
	skopeoCopy(t, src.Host+"/ubi9/ubi-minimal:latest", src.Host+"/a/b/c:1")
	dir := t.TempDir()
	target := "docker://" + dst.Host
	writeFile(t, filepath.Join(dir, "isc.yaml"), iscHead+fmt.Sprintf("  - name: %[1]s/a/b-c:1\n  - name: %[1]s/a/b/c:1\n  - name: %[1]s/docker/legacy:v1\n", src.Host))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d (the destinations differ until push folds them)", r.code)
	}
	for _, dry := range []string{"--dry-run --workspace ws ", ""} {
		r := sh(t, dir, nil, "ocm-push "+dry+"--max-nested-paths 2 "+target+" < plan.jsonl > pushed.jsonl")
		if r.code != 2 {
			t.Errorf("push %s: exit %d, want 2", dry, r.code)
		}
		for _, want := range []string{src.Host + "/a/b-c:1", src.Host + "/a/b/c:1", "both map to " + dst.Host + "/a/b-c:1", "--max-nested-paths"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("push %s: message lacks %q", dry, want)
			}
		}
	}
	recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
	want := map[string]record.Status{"a/b-c:1": record.StatusPushed, "a/b/c:1": record.StatusFailed, "docker/legacy:v1": record.StatusPushed}
	for _, rec := range recs {
		if rec.Status != want[rec.Destination] {
			t.Errorf("%s: %s, want %s (%s)", rec.Source, rec.Status, want[rec.Destination], rec.Error)
		}
	}
	if got := skopeoDigest(t, target+"/a/b-c:1", "--tls-verify=false"); got != ubi.Digest {
		t.Errorf("a/b-c:1 in the mirror is %s, want the first source's %s", got, ubi.Digest)
	}
	// Without folding both land, each in its own repository.
	if r := sh(t, dir, nil, "ocm-push "+target+"/flat < plan.jsonl > /dev/null"); r.code != 0 {
		t.Errorf("push without --max-nested-paths: exit %d", r.code)
	}
}
