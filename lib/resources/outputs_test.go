package resources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
