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
