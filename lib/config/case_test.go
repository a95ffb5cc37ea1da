package config

import (
	"strings"
	"testing"
)

// TestO5FieldNamesInAnyCase: oc-mirror reads field names in any letter
// case (encoding/json); so does ocm, warning with the canonical spelling.
// Unknown fields are still refused, and two spellings of one field too.
func TestO5FieldNamesInAnyCase(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		warn      []string // each in one warning, in order
		err       string
	}{
		{"additionalimages", head + "mirror:\n  additionalimages:\n  - name: quay.io/a/b:1\n",
			[]string{`isc.yaml:4: mirror.additionalimages: read as "mirror.additionalImages"; write "additionalImages"`}, ""},
		{"Kind and APIVERSION", "Kind: ImageSetConfiguration\nAPIVERSION: mirror.openshift.io/v2alpha1\nMirror:\n  additionalImages:\n  - NAME: quay.io/a/b:1\n",
			[]string{`isc.yaml:1: Kind: read as "kind"`, `isc.yaml:2: APIVERSION: read as "apiVersion"`, `isc.yaml:3: Mirror: read as "mirror"`, `isc.yaml:5: mirror.additionalImages[0].NAME: read as`}, ""},
		{"operators", head + "mirror:\n  operators:\n  - Catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18\n    TargetCatalogSourceTemplate: t.yaml\n",
			[]string{`Catalog: read as`, `TargetCatalogSourceTemplate: read as`}, ""},
		{"canonical", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n", nil, ""},
		{"unknown still refused", head + "mirror:\n  additionalImage:\n  - name: quay.io/a/b:1\n", nil, `unknown field "additionalImage"`},
		{"two spellings", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n  additionalimages:\n  - name: quay.io/a/c:1\n", nil, `field "additionalImages" given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("isc.yaml", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != len(tc.warn) {
				t.Fatalf("warnings %q, want %d", c.Warnings, len(tc.warn))
			}
			for i, w := range tc.warn {
				if !strings.Contains(c.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", c.Warnings[i], w)
				}
			}
			if strings.Contains(tc.src, "quay.io/a/b") && (len(c.Spec.AdditionalImages) != 1 || c.Spec.AdditionalImages[0].Name != "quay.io/a/b:1") {
				t.Errorf("additional images %+v", c.Spec.AdditionalImages)
			}
			if strings.Contains(tc.src, "Catalog:") && (len(c.Spec.Operators) != 1 || c.Spec.Operators[0].Catalog == "" || c.Spec.Operators[0].TargetCatalogSourceTemplate != "t.yaml") {
				t.Errorf("operators %+v", c.Spec.Operators)
			}
		})
	}
}
