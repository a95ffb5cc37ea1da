package resources

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ocm-mirror/ocm/lib/record"
)

// TestCatalogNames: whatever the catalog's repository and tag, CatalogSource
// and ClusterCatalog names pass Kubernetes' own validation (a CatalogSource
// name also becomes a Service name: DNS-1035) and stay distinct.
func TestCatalogNames(t *testing.T) {
	long := strings.Repeat("very-long-repository-name", 6)
	for _, tc := range []struct {
		name   string
		target string
		want   string // CatalogSource name, when it is known
	}{
		{"plain", "mirror:5000/redhat/redhat-operator-index:v4.15", "cs-redhat-operator-index-v4-15"},
		{"tag of digits first", "mirror:5000/ns/index:4.15", "cs-index-4-15"},
		{"tag with upper case and underscores", "mirror:5000/ns/index:V4_15__Final", "cs-index-v4-15-final"},
		{"repository with dots and underscores", "mirror:5000/ns/my_index.v2:latest", "cs-my-index-v2-latest"},
		{"tag ending in punctuation", "mirror:5000/ns/index:v1-", "cs-index-v1"},
		{"longest tag", "mirror:5000/ns/index:" + strings.Repeat("T", 128), ""},
		{"long repository", "mirror:5000/ns/" + long + ":v1", ""},
		{"long repository, other tag", "mirror:5000/ns/" + long + ":v2", ""},
		{"same start, other repository", "mirror:5000/other/" + long + ":v1", ""},
		{"digest only (push tags it sha256-<hex>)", "mirror:5000/ns/index:sha256-" + d1[7:], ""},
		{"repository of one character", "mirror:5000/x:y", "cs-x-y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &record.Record{Origin: record.OriginCatalog, Source: "registry.example.com/src/index:v1", Digest: d1, Status: record.StatusPushed, Target: tc.target}
			files, err := Generate([]*record.Record{rec}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var cs, cc string
			for _, f := range files {
				n := strings.TrimSuffix(f.Name, ".yaml")
				switch {
				case strings.HasPrefix(n, "cs-"):
					cs = n
				case strings.HasPrefix(n, "cc-"):
					cc = n
				}
			}
			if cs == "" || cc == "" {
				t.Fatalf("files %v", files)
			}
			for _, n := range []string{cs, cc} {
				if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
					t.Errorf("%q: %v", n, errs)
				}
				if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
					t.Errorf("%q: %v", n, errs)
				}
			}
			if tc.want != "" && cs != tc.want {
				t.Errorf("CatalogSource %q, want %q", cs, tc.want)
			}
			if strings.TrimPrefix(cs, "cs-") != strings.TrimPrefix(cc, "cc-") && len(cs) < maxName {
				t.Errorf("CatalogSource %q and ClusterCatalog %q name the catalog differently", cs, cc)
			}
		})
	}
}

// TestCatalogNamesDistinct: catalogs whose names only differ past the length
// limit, or only in characters a name cannot hold, get distinct names.
func TestCatalogNamesDistinct(t *testing.T) {
	long := strings.Repeat("very-long-repository-name", 6)
	var recs []*record.Record
	for _, target := range []string{
		"mirror:5000/a/" + long + ":v1", "mirror:5000/a/" + long + ":v2", "mirror:5000/b/" + long + ":v1",
		"mirror:5000/a/index:v4.15", "mirror:5000/a/index:v4_15", "mirror:5000/b/index:v4.15",
		"mirror:5000/a/index:" + strings.Repeat("t", 100) + "1", "mirror:5000/a/index:" + strings.Repeat("t", 100) + "2",
	} {
		recs = append(recs, &record.Record{Origin: record.OriginCatalog, Source: target, Digest: d1, Status: record.StatusPushed, Target: target})
	}
	files, err := Generate(recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, f := range files {
		n[f.Name[:3]]++
		if errs := validation.IsDNS1123Label(strings.TrimSuffix(f.Name, ".yaml")); len(errs) > 0 {
			t.Errorf("%s: %v", f.Name, errs)
		}
	}
	if n["cs-"] != len(recs) || n["cc-"] != len(recs) {
		t.Fatalf("%d catalogs gave %d CatalogSource and %d ClusterCatalog files (names collided): %v", len(recs), n["cs-"], n["cc-"], files)
	}
}

// TestOCICatalog: a catalog mirrored from a local OCI layout gets its
// CatalogSource and ClusterCatalog, and no mirror set (a layout has no
// registry a cluster could pull from); its bundle still gets one.
func TestOCICatalog(t *testing.T) {
	recs := []*record.Record{
		{Origin: record.OriginCatalog, Source: "oci:///srv/Catalogs/my-index", Digest: d1, Status: record.StatusPushed, Target: "mirror:5000/ns/my-index:latest"},
		{Origin: record.OriginBundle, Source: "registry.example.com/src/bundle@" + d2, Digest: d2, Status: record.StatusPushed, Target: "mirror:5000/ns/src/bundle:sha256-" + d2[7:]},
	}
	files, err := Generate(recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Name] = string(f.Data)
	}
	if cs := got["cs-my-index-latest.yaml"]; !strings.Contains(cs, "image: mirror:5000/ns/my-index:latest\n") {
		t.Errorf("CatalogSource: %q (files %v)", cs, files)
	}
	if _, ok := got["cc-my-index-latest.yaml"]; !ok {
		t.Errorf("no ClusterCatalog (files %v)", files)
	}
	idms := got["idms-oc-mirror.yaml"]
	if !strings.Contains(idms, "source: registry.example.com/src\n") { // its namespace, mirrored whole under ns/
		t.Errorf("the bundle has no mirror set: %q (files %v)", idms, files)
	}
	for n, data := range got {
		if strings.Contains(data, "oci:") || strings.Contains(data, "/srv/Catalogs") {
			t.Errorf("%s names the layout:\n%s", n, data)
		}
	}
}
