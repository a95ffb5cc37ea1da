package resources

import (
	"bytes"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	ccv1 "github.com/operator-framework/catalogd/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func docs(b []byte) [][]byte { return bytes.Split(b, []byte("---\n")) }

// updateServiceV1 is the UpdateService type (updateservice.operator.openshift.io/v1)
// copied field by field from cincinnati-operator's api/v1, which the module
// proxy does not serve.
type updateServiceV1 struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Replicas       int32  `json:"replicas"`
		Releases       string `json:"releases"`
		GraphDataImage string `json:"graphDataImage"`
	} `json:"spec"`
	Status struct{} `json:"status"`
}

func TestFilesParseStrictlyAsAPITypes(t *testing.T) {
	for _, pin := range []bool{false, true} {
		t.Run(map[bool]string{false: "by tag", true: "pinned"}[pin], func(t *testing.T) { checkAPITypes(t, pin) })
	}
}

func checkAPITypes(t *testing.T, pin bool) {
	files, err := Generate(fixture(), Options{PinDigest: pin})
	if err != nil {
		t.Fatal(err)
	}
	// The catalog record's target and digest (fixture()).
	wantImage := "mirror.example.com:5000/ocp/redhat/redhat-operator-index:v4.15"
	if pin {
		wantImage = "mirror.example.com:5000/ocp/redhat/redhat-operator-index@" + d3
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
				if err == nil && (o.Spec.SourceType != v1alpha1.SourceTypeGrpc || o.Spec.Image != wantImage || o.Namespace != "openshift-marketplace" ||
					tm.APIVersion != "operators.coreos.com/v1alpha1" || f.Name != o.Name+".yaml") {
					t.Errorf("%s: %s %+v", f.Name, o.Name, o.Spec)
				}
			case "ClusterCatalog":
				var o ccv1.ClusterCatalog
				err = yaml.UnmarshalStrict(d, &o)
				if err == nil && (tm.APIVersion != ccv1.GroupVersion.String() || o.Spec.Source.Type != ccv1.SourceTypeImage ||
					o.Spec.Source.Image == nil || o.Spec.Source.Image.Ref != wantImage || o.Namespace != "" ||
					o.Name != "cc-redhat-operator-index-v4-15" || f.Name != o.Name+".yaml") {
					t.Errorf("%s: %s %+v %+v", f.Name, o.Name, o.Spec.Source, o.Spec.Source.Image)
				}
			case "UpdateService":
				var o updateServiceV1
				err = yaml.UnmarshalStrict(d, &o)
				if err == nil && (o.Namespace != "openshift-update-service" || o.Name != "update-service-oc-mirror" ||
					tm.APIVersion != "updateservice.operator.openshift.io/v1" || o.Spec.GraphDataImage == "" || o.Spec.Releases == "") {
					t.Errorf("%s: %+v %+v", f.Name, o.ObjectMeta, o.Spec)
				}
			default:
				t.Errorf("%s: unexpected kind %q", f.Name, tm.Kind)
			}
			if err != nil {
				t.Errorf("%s (%s): %v", f.Name, tm.Kind, err)
			}
		}
	}
	for _, k := range []string{"ImageDigestMirrorSet", "ImageTagMirrorSet", "CatalogSource", "ClusterCatalog", "UpdateService"} {
		if seen[k] == 0 {
			t.Errorf("no %s generated", k)
		}
	}
	// The check can fail: a misspelt field is rejected.
	if err := yaml.UnmarshalStrict([]byte("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nspec:\n  imageDigestMirror: []\n"), &configv1.ImageDigestMirrorSet{}); err == nil {
		t.Fatal("strict decoding accepted an unknown field")
	}
	if err := yaml.UnmarshalStrict([]byte("apiVersion: olm.operatorframework.io/v1\nkind: ClusterCatalog\nspec:\n  source:\n    image:\n      reference: x\n"), &ccv1.ClusterCatalog{}); err == nil {
		t.Fatal("strict decoding accepted an unknown ClusterCatalog field")
	}
}
