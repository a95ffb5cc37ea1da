package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/deletion"
)

const deleteHead = "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n  additionalImages:\n"

func TestDeleteFromTheMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 256<<10)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	target := "docker://" + dst.Host
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > pushed.jsonl"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	// Delete ubi-minimal, the 4-arch index and ubi:9.4 (same digest as ubi:latest, which stays).
	writeFile(t, filepath.Join(dir, "delete.yaml"), deleteHead+fmt.Sprintf("  - name: %[1]s/ubi9/ubi-minimal:latest\n  - name: %[1]s/multiarch/tools:1.0\n  - name: %[1]s/ubi9/ubi:9.4\n", src.Host))
	r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace ws "+target)
	if r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	l, err := deletion.Read(filepath.Join(dir, "ws", "delete", "delete-images.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ubi, _ := set.ByRepo("ubi9/ubi")
	var sharedUbi bool
	for _, it := range l.Items {
		if it.Digest == ubi.Digest {
			sharedUbi = strings.Contains(strings.Join(it.SharedWith, " "), "ubi9/ubi:latest")
		}
	}
	if !sharedUbi {
		t.Fatalf("the list does not say ubi9/ubi:9.4 shares its manifest with :latest:\n%+v", l.Items)
	}
	// With the kept image set, the shared manifest is left out.
	sh(t, dir, nil, `grep '"ubi9/ubi:latest"' pushed.jsonl > keep.jsonl`)
	if r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --keep keep.jsonl --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate --keep exit %d", r.code)
	}
	if l, err = deletion.Read(filepath.Join(dir, "ws", "delete", "delete-images.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, it := range l.Items {
		if it.Digest == ubi.Digest {
			t.Fatalf("kept manifest listed for deletion: %+v", it)
		}
	}
	// 1 image + 1 index with 4 platform images.
	if len(l.Items) != 6 {
		t.Fatalf("%d items, want 6: %+v", len(l.Items), l.Items)
	}
	if r := sh(t, dir, nil, "ocm-delete --dry-run --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 || !strings.Contains(r.stderr, "would delete 6 manifests") {
		t.Fatalf("dry run: exit %d", r.code)
	}
	before, _ := dst.DataSize()
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 {
		t.Fatalf("delete exit %d", r.code)
	}
	ctx := context.Background()
	for _, img := range set.Images {
		ref := "docker://" + dst.Host + "/" + img.Repo
		if img.Tag != "" {
			ref += ":" + img.Tag
		} else {
			ref += "@" + img.Digest
		}
		_, err := testenv.SkopeoDigest(ctx, ref, "--tls-verify=false")
		gone := img.Repo == "ubi9/ubi-minimal" || img.Repo == "multiarch/tools"
		switch {
		case img.Repo == "library/alpine":
		case gone && err == nil:
			t.Errorf("%s is still in the mirror", ref)
		case !gone && err != nil:
			t.Errorf("%s was deleted: %v", ref, err)
		}
	}
	// Rerun: already gone is reported, not an error.
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 || !strings.Contains(r.stderr, "6 already gone") {
		t.Fatalf("rerun: exit %d", r.code)
	}
	// Storage shrinks only once the garbage collector runs.
	afterDelete, _ := dst.DataSize()
	if out, err := dst.GarbageCollect(ctx); err != nil {
		t.Fatalf("garbage-collect: %v\n%s", err, out)
	}
	afterGC, _ := dst.DataSize()
	t.Logf("registry storage: %d bytes before delete, %d after delete, %d after garbage collection", before, afterDelete, afterGC)
	if afterDelete < before-before/100 {
		t.Errorf("storage shrank on delete alone (%d -> %d)", before, afterDelete)
	}
	if afterGC >= afterDelete-256<<10 {
		t.Errorf("garbage collection freed %d bytes, want at least the deleted layers", afterDelete-afterGC)
	}
}

func TestDeleteRefusedByRegistry(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{DisableDelete: true})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	target := "docker://" + dst.Host
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > /dev/null"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	writeFile(t, filepath.Join(dir, "delete.yaml"), deleteHead+fmt.Sprintf("  - name: %[1]s/ubi9/ubi-minimal:latest\n  - name: %[1]s/docker/legacy:v1\n", src.Host))
	if r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target)
	if r.code != 1 || !strings.Contains(r.stderr, "refuses deletes (HTTP 405); fix: enable them") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, repo := range []string{"ubi9/ubi-minimal:latest", "docker/legacy:v1"} {
		if _, err := testenv.SkopeoDigest(context.Background(), target+"/"+repo, "--tls-verify=false"); err != nil {
			t.Errorf("%s gone after a refused delete: %v", repo, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ws", "delete", "delete-images.yaml")); err != nil {
		t.Fatal(err)
	}
}
