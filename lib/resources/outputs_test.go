package resources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	"sigs.k8s.io/yaml"
)

const csHead = "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: t\n"

// TestO1TemplateNamespaceAndTypes: a targetCatalogSourceTemplate's
// namespace is replaced by openshift-marketplace, and a value of the wrong
// type (YAML 1.1 booleans) is refused with one line naming file and field.
func TestO1TemplateNamespaceAndTypes(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"other namespace", csHead + "  namespace: my-catalogs\nspec:\n  sourceType: grpc\n", ""},
		{"no namespace", csHead + "spec:\n  sourceType: grpc\n", ""},
		{"quoted y", csHead + "  namespace: \"y\"\nspec:\n  sourceType: grpc\n", ""},
		{"namespace y", csHead + "  namespace: y\nspec:\n  sourceType: grpc\n", "metadata.namespace is a bool where a string belongs; fix: quote"},
		{"publisher yes", csHead + "spec:\n  publisher: yes\n", "spec.publisher is a bool where a string belongs; fix: quote"},
		{"displayName number", csHead + "spec:\n  displayName: 1.10\n", "spec.displayName is a number where a string belongs; fix: quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tmpl.yaml")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			tm, err := LoadTemplate(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s and %q", err, p, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(fixture(), Options{Templates: map[string]map[string]any{"registry.redhat.io/redhat/redhat-operator-index:v4.15": tm}})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if !strings.HasPrefix(f.Name, "cs-") {
					continue
				}
				var cs v1alpha1.CatalogSource
				if err := yaml.UnmarshalStrict(f.Data, &cs); err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				if cs.Namespace != "openshift-marketplace" {
					t.Errorf("%s: namespace %q, want openshift-marketplace:\n%s", f.Name, cs.Namespace, f.Data)
				}
			}
		})
	}
}

// TestO2GraphDataImageByTag: the UpdateService names the graph image by tag
// as the reference tool writes it; by digest with PinGraphDigest.
func TestO2GraphDataImageByTag(t *testing.T) {
	const repo = "mirror.example.com:5000/ocp/openshift/graph-image"
	for _, tc := range []struct {
		name   string
		pin    bool
		target string
		want   string
	}{
		{"tag", false, repo + ":latest", repo + ":latest"},
		{"pinned", true, repo + ":latest", repo + "@" + d3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := fixture()
			for _, r := range recs {
				if r.Origin == record.OriginGraph {
					r.Target = tc.target
				}
			}
			files, err := Generate(recs, Options{PinGraphDigest: tc.pin})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, f := range files {
				if f.Name == UpdateServiceFile {
					var us updateServiceV1
					if err := yaml.UnmarshalStrict(f.Data, &us); err != nil {
						t.Fatal(err)
					}
					got = us.Spec.GraphDataImage
				}
			}
			if got != tc.want {
				t.Fatalf("graphDataImage %q, want %q", got, tc.want)
			}
		})
	}
}
