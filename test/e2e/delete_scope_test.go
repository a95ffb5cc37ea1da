package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/deletion"
)

// TestF4DeleteStaysUnderPrefix: a delete-images.yaml edited to name a
// repository outside docker://HOST/PREFIX (or another registry) is refused
// whole, with exit 2 naming the item, dry run or not, before anything is
// deleted.
func TestF4DeleteStaysUnderPrefix(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	populate(t, dst) // the same images at the mirror's root, outside m/: the victims
	minimal, _ := set.ByRepo("ubi9/ubi-minimal")
	dir := t.TempDir()
	target := "docker://" + dst.Host + "/m"
	writeFile(t, filepath.Join(dir, "isc.yaml"), fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: %[1]s/ubi9/ubi-minimal:latest\n  - name: %[1]s/multiarch/tools:1.0\n", src.Host))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > /dev/null"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	writeFile(t, filepath.Join(dir, "delete.yaml"), deleteHead+fmt.Sprintf("  - name: %[1]s/ubi9/ubi-minimal:latest\n  - name: %[1]s/multiarch/tools:1.0\n", src.Host))
	if r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	listPath := filepath.Join(dir, "ws", "delete", "delete-images.yaml")
	read := func() *deletion.List {
		l, err := deletion.Read(listPath)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if n := len(read().Items); n != 6 {
		t.Fatalf("%d items, want 6 (ubi-minimal, the tools index and its 4 platform images)", n)
	}
	outside := deletion.Item{Destination: dst.Host + "/ubi9/ubi-minimal:latest", Repository: "ubi9/ubi-minimal", Digest: minimal.Digest}
	cases := []struct {
		name   string
		tamper func(l *deletion.List)
		want   string
		// legacy: only ocm's earlier format has a destination field.
		legacy bool
	}{
		{name: "repository outside the prefix, listed last", tamper: func(l *deletion.List) {
			l.Items = append(l.Items, outside)
		}, want: `items[6] repository "ubi9/ubi-minimal"`},
		{name: "repository climbing out with ..", tamper: func(l *deletion.List) {
			l.Items[0].Repository = "m/../ubi9/ubi-minimal"
			l.Items[0].Destination = dst.Host + "/m/../ubi9/ubi-minimal:latest"
		}, want: "m/../ubi9/ubi-minimal"},
		{name: "destination on another registry", tamper: func(l *deletion.List) {
			l.Items[0].Destination = "other.example:5000/" + l.Items[0].Repository + ":latest"
		}, want: `items[0] destination "other.example:5000/m/`, legacy: true},
		{name: "list for another registry", tamper: func(l *deletion.List) {
			l.Registry = "other.example:5000"
		}, want: `generated for registry "other.example:5000"`},
	}
	for i, c := range cases {
		// Each tampered list in the format ocm writes (oc-mirror's) and in
		// ocm's earlier one: both are refused whole.
		for _, legacy := range []bool{false, true} {
			if c.legacy && !legacy {
				continue
			}
			l := read()
			c.tamper(l)
			file := fmt.Sprintf("tampered-%d-%v.yaml", i, legacy)
			if legacy {
				writeLegacyList(t, filepath.Join(dir, file), l)
			} else if err := deletion.Write(filepath.Join(dir, file), l); err != nil {
				t.Fatal(err)
			}
			for _, flags := range []string{"--dry-run ", ""} {
				r := sh(t, dir, nil, "ocm-delete "+flags+"--delete-yaml-file "+file+" "+target)
				if r.code != 2 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, file) {
					t.Errorf("%s (%s), %q: exit %d, want 2 and a message naming %s and %q:\n%s", c.name, file, flags, r.code, file, c.want, r.stderr)
				}
				if strings.Contains(r.stderr, "would delete") || strings.Contains(r.stderr, "deleted ") {
					t.Errorf("%s (%s), %q: listed or deleted items of a refused list:\n%s", c.name, file, flags, r.stderr)
				}
			}
		}
	}
	// Nothing was deleted, inside m/ or out.
	ctx := context.Background()
	for _, ref := range []string{"/ubi9/ubi-minimal:latest", "/multiarch/tools:1.0", "/m/ubi9/ubi-minimal:latest", "/m/multiarch/tools:1.0"} {
		if _, err := testenv.SkopeoDigest(ctx, "docker://"+dst.Host+ref, "--tls-verify=false"); err != nil {
			t.Errorf("%s is gone after refused deletes: %v", ref, err)
		}
	}
	// The list as generated deletes what is under m/ and only that.
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 || !strings.Contains(r.stderr, "deleted 6 manifests") {
		t.Fatalf("delete of the generated list: exit %d", r.code)
	}
	for ref, want := range map[string]bool{"/ubi9/ubi-minimal:latest": true, "/multiarch/tools:1.0": true, "/m/ubi9/ubi-minimal:latest": false, "/m/multiarch/tools:1.0": false} {
		_, err := testenv.SkopeoDigest(ctx, "docker://"+dst.Host+ref, "--tls-verify=false")
		if (err == nil) != want {
			t.Errorf("%s: present %v, want %v", ref, err == nil, want)
		}
	}
}

// writeLegacyList writes l in ocm's earlier delete-images.yaml format
// (registry, items of source, destination, repository, digest), which
// --delete-yaml-file still reads.
func writeLegacyList(t *testing.T, path string, l *deletion.List) {
	t.Helper()
	b, err := yaml.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}
