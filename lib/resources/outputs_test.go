package resources

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"

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
		{"spec a string", csHead + "spec: grpc\n", "spec is a string where a v1alpha1.CatalogSourceSpec belongs; fix: write a v1alpha1.CatalogSourceSpec there"},
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

// mirrorSetEntries decodes the IDMS and ITMS files strictly into the
// upstream types: "idms <category> <source> -> <mirrors>" lines.
func mirrorSetEntries(t *testing.T, files []File) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range files {
		for _, d := range docs(f.Data) {
			switch f.Name {
			case IDMSFile:
				var o configv1.ImageDigestMirrorSet
				if err := yaml.UnmarshalStrict(d, &o); err != nil {
					t.Fatal(err)
				}
				checkAnnotations(t, o.Annotations)
				for _, e := range o.Spec.ImageDigestMirrors {
					out[fmt.Sprintf("%s %s -> %v", o.Name, e.Source, e.Mirrors)] = true
				}
			case ITMSFile:
				var o configv1.ImageTagMirrorSet
				if err := yaml.UnmarshalStrict(d, &o); err != nil {
					t.Fatal(err)
				}
				checkAnnotations(t, o.Annotations)
				for _, e := range o.Spec.ImageTagMirrors {
					out[fmt.Sprintf("%s %s -> %v", o.Name, e.Source, e.Mirrors)] = true
				}
			}
		}
	}
	return out
}

func checkAnnotations(t *testing.T, a map[string]string) {
	t.Helper()
	if a["createdBy"] != "oc-mirror v2" || a["createdAt"] != "" || len(a) != 1 {
		t.Errorf("annotations %v, want createdBy: oc-mirror v2 only", a)
	}
}

// TestO4NamespaceScopedMirrorSets: a source namespace mirrored whole under
// the same path gets one entry; otherwise each repository keeps its own.
// The release payload's repository is in the IDMS and the ITMS. Every
// object carries the reference tool's createdBy annotation and the files
// are the same run to run.
func TestO4NamespaceScopedMirrorSets(t *testing.T) {
	const m = "mirror:5000/ocp"
	pushed := func(o record.Origin, src, target string) *record.Record {
		return &record.Record{Origin: o, Source: src, Digest: d1, Status: record.StatusPushed, Target: target}
	}
	for _, tc := range []struct {
		name string
		recs []*record.Record
		want []string
	}{
		{"namespace mirrored whole", []*record.Record{
			pushed(record.OriginBundle, "registry.redhat.io/a/bundle@"+d1, m+"/a/bundle:x"),
			pushed(record.OriginRelated, "registry.redhat.io/a/operand@"+d1, m+"/a/operand:x"),
		}, []string{"idms-operator-0 registry.redhat.io/a -> [mirror:5000/ocp/a]"}},
		{"deep namespace, tag", []*record.Record{
			pushed(record.OriginAdditional, "quay.io/org/team/app:1", m+"/org/team/app:1"),
		}, []string{"itms-generic-0 quay.io/org/team -> [mirror:5000/ocp/org/team]"}},
		{"one repository elsewhere", []*record.Record{
			pushed(record.OriginBundle, "registry.redhat.io/a/bundle@"+d1, m+"/a/bundle:x"),
			pushed(record.OriginAdditional, "registry.redhat.io/a/tool@"+d1, m+"/tools/tool:x"),
		}, []string{"idms-operator-0 registry.redhat.io/a/bundle -> [mirror:5000/ocp/a/bundle]", "idms-generic-0 registry.redhat.io/a/tool -> [mirror:5000/ocp/tools/tool]"}},
		{"two mirror namespaces", []*record.Record{
			pushed(record.OriginAdditional, "quay.io/x/one@"+d1, m+"/x/one:x"),
			pushed(record.OriginAdditional, "quay.io/x/two@"+d1, "mirror:5000/other/x/two:x"),
		}, []string{"idms-generic-0 quay.io/x/one -> [mirror:5000/ocp/x/one]", "idms-generic-0 quay.io/x/two -> [mirror:5000/other/x/two]"}},
		{"suffix not on a path boundary", []*record.Record{
			pushed(record.OriginAdditional, "quay.io/a/app@"+d1, m+"/xa/app:x"),
		}, []string{"idms-generic-0 quay.io/a/app -> [mirror:5000/ocp/xa/app]"}},
		{"top of the registry", []*record.Record{
			pushed(record.OriginAdditional, "quay.io/app@"+d1, m+"/app:x"),
		}, []string{"idms-generic-0 quay.io/app -> [mirror:5000/ocp/app]"}},
		{"release payload in both", []*record.Record{
			pushed(record.OriginRelease, "quay.io/openshift-release-dev/ocp-release@"+d1, m+"/openshift/release-images:4.15.3-x86_64"),
			pushed(record.OriginReleaseComponent, "quay.io/openshift-release-dev/ocp-v4.0-art-dev@"+d2, m+"/openshift/release:4.15.3-x86_64-etcd"),
		}, []string{
			"idms-release-0 quay.io/openshift-release-dev/ocp-release -> [mirror:5000/ocp/openshift/release-images]",
			"itms-release-0 quay.io/openshift-release-dev/ocp-release -> [mirror:5000/ocp/openshift/release-images]",
			"idms-release-0 quay.io/openshift-release-dev/ocp-v4.0-art-dev -> [mirror:5000/ocp/openshift/release]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Generate(tc.recs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := mirrorSetEntries(t, files)
			want := map[string]bool{}
			for _, w := range tc.want {
				want[w] = true
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("entries\n got %v\nwant %v", got, want)
			}
			again, _ := Generate(tc.recs, Options{})
			if render(again) != render(files) {
				t.Error("two runs differ")
			}
		})
	}
	// Every other object carries the annotation too.
	files, err := Generate(fixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var o struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		for _, d := range docs(f.Data) {
			if err := yaml.Unmarshal(d, &o); err != nil {
				t.Fatal(err)
			}
			checkAnnotations(t, o.Metadata.Annotations)
		}
	}
}
