package resources

import (
	"bytes"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func docs(b []byte) [][]byte { return bytes.Split(b, []byte("---\n")) }

func TestFilesParseStrictlyAsAPITypes(t *testing.T) {
	files, err := Generate(fixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range files {
		for _, d := range docs(f.Data) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(d, &tm); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			seen[tm.Kind]++
			var err error
			switch tm.Kind {
			case "ImageDigestMirrorSet":
				var o configv1.ImageDigestMirrorSet
				err = yaml.UnmarshalStrict(d, &o)
				if err == nil && (tm.APIVersion != "config.openshift.io/v1" || len(o.Spec.ImageDigestMirrors) == 0 || o.Name == "") {
					t.Errorf("%s: incomplete %+v", f.Name, o)
				}
			case "ImageTagMirrorSet":
				var o configv1.ImageTagMirrorSet
				err = yaml.UnmarshalStrict(d, &o)
				if err == nil && (tm.APIVersion != "config.openshift.io/v1" || len(o.Spec.ImageTagMirrors) == 0 || o.Name == "") {
					t.Errorf("%s: incomplete %+v", f.Name, o)
				}
			case "CatalogSource":
				var o v1alpha1.CatalogSource
				err = yaml.UnmarshalStrict(d, &o)
				if err == nil && (o.Spec.SourceType != v1alpha1.SourceTypeGrpc || !strings.Contains(o.Spec.Image, "@sha256:") || o.Namespace != "openshift-marketplace") {
					t.Errorf("%s: %+v", f.Name, o.Spec)
				}
			case "UpdateService":
				// updateservice.operator.openshift.io/v1 has no Go module on the proxy either.
				var o struct {
					metav1.TypeMeta   `json:",inline"`
					metav1.ObjectMeta `json:"metadata,omitempty"`
					Spec              struct {
						Replicas       int32  `json:"replicas"`
						Releases       string `json:"releases"`
						GraphDataImage string `json:"graphDataImage"`
					} `json:"spec"`
				}
				err = yaml.UnmarshalStrict(d, &o)
			default:
				t.Errorf("%s: unexpected kind %q", f.Name, tm.Kind)
			}
			if err != nil {
				t.Errorf("%s (%s): %v", f.Name, tm.Kind, err)
			}
		}
	}
	for _, k := range []string{"ImageDigestMirrorSet", "ImageTagMirrorSet", "CatalogSource", "UpdateService"} {
		if seen[k] == 0 {
			t.Errorf("no %s generated", k)
		}
	}
	// The check can fail: a misspelt field is rejected.
	if err := yaml.UnmarshalStrict([]byte("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nspec:\n  imageDigestMirror: []\n"), &configv1.ImageDigestMirrorSet{}); err == nil {
		t.Fatal("strict decoding accepted an unknown field")
	}
}
