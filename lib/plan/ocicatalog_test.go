package plan

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestOCICatalogRefused: a layout ocm cannot take as a catalog gives a
// failed catalog record naming the layout and the fix, and the user's
// layout is left as it was (nothing written into it).
func TestOCICatalogRefused(t *testing.T) {
	root := t.TempDir()
	mkLayout := func(dir string, images int) {
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < images; i++ {
			img, _ := random.Image(64, 1)
			if err := p.AppendImage(img); err != nil {
				t.Fatal(err)
			}
		}
	}
	notLayout := filepath.Join(root, "plain")
	if err := os.Mkdir(notLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(root, "two-images")
	mkLayout(two, 2)
	none := filepath.Join(root, "empty")
	mkLayout(none, 0)
	upper := filepath.Join(root, "My_Index")
	mkLayout(upper, 1)
	notCatalog := filepath.Join(root, "not-a-catalog")
	mkLayout(notCatalog, 1)

	cch, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Planner{Client: registry.New(registry.Options{}), Log: logging.New("test", logging.Error, io.Discard), Workers: 2,
		Cache: cch, Engine: copier.New(copier.Options{})}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"not a layout", notLayout, "is not an OCI image layout (no oci-layout file)"},
		{"missing directory", filepath.Join(root, "gone"), "is not an OCI image layout"},
		{"two images", two, "index.json lists 2 images, want exactly one"},
		{"no image", none, "index.json lists 0 images"},
		{"directory name not a repository", upper, `"My_Index" is not a repository name for the mirror; fix: set targetCatalog`},
		{"not a catalog image", notCatalog, "no declarative config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := listing(t, tc.dir)
			recs := p.Operators(context.Background(), []config.Operator{{Catalog: "oci://" + tc.dir, Packages: []config.Package{{Name: "aqua"}}}}, false)
			if len(recs) != 1 || recs[0].Status != record.StatusFailed || !strings.Contains(recs[0].Error, tc.want) || !strings.Contains(recs[0].Error, tc.dir) {
				t.Fatalf("records %+v, want one failed naming %s and %q", recs, tc.dir, tc.want)
			}
			if after := listing(t, tc.dir); after != before {
				t.Errorf("the layout changed:\n%s\nbecame\n%s", before, after)
			}
		})
	}
	// A layout has no registry to hold a signature: under --secure-policy
	// it is refused before it is read, whatever the policy says.
	secure := &Planner{Client: p.Client, Log: p.Log, Workers: 2, Cache: cch, Engine: p.Engine,
		Policy: &policy.Checker{Policy: &policy.Policy{Default: []policy.Requirement{{Type: "insecureAcceptAnything"}}}}}
	before := listing(t, notCatalog)
	recs := secure.Operators(context.Background(), []config.Operator{{Catalog: "oci://" + notCatalog, Packages: []config.Package{{Name: "aqua"}}}}, false)
	if len(recs) != 1 || recs[0].Status != record.StatusFailed || !strings.Contains(recs[0].Error, notCatalog) ||
		!strings.Contains(recs[0].Error, "a local OCI layout has none; fix: push the catalog to a registry") {
		t.Fatalf("--secure-policy: records %+v, want the layout refused", recs)
	}
	if after := listing(t, notCatalog); after != before {
		t.Errorf("the layout changed under --secure-policy")
	}
}

// listing is the layout's files and sizes.
func listing(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			fmt.Fprintf(&b, "%s %v %d\n", p, fi.Mode(), fi.Size())
		}
		return nil
	})
	return b.String()
}

// TestLayoutImageSelection: oci://PATH takes a layout's only image;
// oci://PATH:NAME the one its ref name names, oci://PATH@DIGEST the one of
// that digest; anything else is an error listing what the layout holds.
func TestLayoutImageSelection(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "multi")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, n := range []string{"v1", "v2", "v2", ""} {
		img, _ := random.Image(64, 1)
		var opts []layout.Option
		if n != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{RefNameAnnotation: n}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests = append(digests, d.String())
	}
	colon := filepath.Join(root, "a:b") // a layout whose name holds ':'
	if _, err := layout.Write(colon, empty.Index); err != nil {
		t.Fatal(err)
	}
	descs, err := (&cache.Cache{Dir: dir}).Refs()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ref, wantDir, want, err string
	}{
		{"by name", dir + ":v1", dir, digests[0], ""},
		{"by digest", dir + "@" + digests[3], dir, digests[3], ""},
		{"no name, several images", dir, dir, "", "index.json lists 4 images, want exactly one or one named (v1 (" + digests[0] + "), v2 (" + digests[1] + "), v2 (" + digests[2] + "), <none> (" + digests[3] + ")); fix: name it as oci://" + dir + ":REF-NAME"},
		{"name of two images", dir + ":v2", dir, "", "lists 2 images named v2, want one"},
		{"unknown name", dir + ":v3", dir, "", "lists 0 images named v3, want one (it lists v1 ("},
		{"layout named with a colon", colon, colon, "", "index.json lists 0 images"},
		{"not a layout", filepath.Join(root, "none") + ":v1", "", "", "none:v1 is not an OCI image layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotDir, sel, err := splitLayoutRef(tc.ref)
			if err == nil {
				if gotDir != tc.wantDir {
					t.Fatalf("layout %s, want %s", gotDir, tc.wantDir)
				}
				ds := descs
				if gotDir != dir {
					ds = nil
				}
				var d manifest.Descriptor
				if d, err = pickLayoutImage(gotDir, ds, sel); err == nil && d.Digest != tc.want {
					t.Fatalf("picked %s, want %s", d.Digest, tc.want)
				}
			}
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
