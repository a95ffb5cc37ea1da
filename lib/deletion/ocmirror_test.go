package deletion

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const dg = "sha256:8bedbe742f140108897fb3532068e8316900d9814f399d676ac78b46e740e34e"

// TestReadOcMirrorList: oc-mirror v2's delete-images.yaml (as its
// delete_images.go writes it, and as its docs show it with v1alpha2 and
// relatedBlobs) is read into items; bad ones name the item and the fix.
func TestReadOcMirrorList(t *testing.T) {
	cases := []struct {
		name, body string
		want       []Item
		registry   string
		err        string
	}{
		{name: "v2alpha1", body: `kind: DeleteImageList
apiVersion: mirror.openshift.io/v2alpha1
items:
- imageName: registry.redhat.io/ubi8/ubi:latest
  imageReference: docker://mirror.local:5000/prefix/ubi8/ubi:latest
  type: generic
- imageName: quay.io/a/op@` + dg + `
  imageReference: docker://mirror.local:5000/prefix/a/op:v1@` + dg + `
  type: operatorRelatedImage
`, registry: "mirror.local:5000", want: []Item{
			{Source: "registry.redhat.io/ubi8/ubi:latest", Repository: "prefix/ubi8/ubi", Tag: "latest", Destination: "mirror.local:5000/prefix/ubi8/ubi:latest"},
			{Source: "quay.io/a/op@" + dg, Repository: "prefix/a/op", Digest: dg},
		}},
		{name: "v1alpha2 with relatedBlobs", body: `kind: DeleteImageList
apiVersion: mirror.openshift.io/v1alpha2
items:
- imageReference: docker://localhost:6000/ubi8/ubi-minimal@` + dg + `
  imageName: registry.redhat.io/ubi8/ubi-minimal@` + dg + `
  relatedBlobs:
  - sha256:f0dc20fdb65a920a81ec9cd7bcbb294d875a4115c11a15e1daf442c80a54dc70
`, registry: "localhost:6000", want: []Item{{Source: "registry.redhat.io/ubi8/ubi-minimal@" + dg, Repository: "ubi8/ubi-minimal", Digest: dg}}},
		{name: "two registries", body: "kind: DeleteImageList\napiVersion: mirror.openshift.io/v2alpha1\nitems:\n- imageName: a/b:1\n  imageReference: docker://h1:5000/b:1\n  type: generic\n- imageName: a/c:1\n  imageReference: docker://h2:5000/c:1\n  type: generic\n",
			err: "items[1].imageReference \"docker://h2:5000/c:1\": registry h2:5000, while items[0] names h1:5000; fix: one list per registry"},
		{name: "no host", body: "kind: DeleteImageList\napiVersion: mirror.openshift.io/v2alpha1\nitems:\n- imageName: a/b:1\n  imageReference: docker://b:1\n  type: generic\n",
			err: "items[0].imageReference \"docker://b:1\": no registry host; fix:"},
		{name: "unknown field still refused", body: "kind: DeleteImageList\napiVersion: mirror.openshift.io/v2alpha1\nitems:\n- imageName: a/b:1\n  imageReference: docker://h:5000/b:1\n  colour: red\n",
			err: "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "delete-images.yaml")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Read(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Registry != tc.registry || len(l.Items) != len(tc.want) {
				t.Fatalf("list %+v", l)
			}
			for i, w := range tc.want {
				if got := l.Items[i]; got.Source != w.Source || got.Repository != w.Repository || got.Digest != w.Digest || got.Tag != w.Tag || got.Destination != w.Destination {
					t.Errorf("items[%d] = %+v, want %+v", i, got, w)
				}
			}
		})
	}
}

// TestWriteIsOcMirrorShape: the list ocm writes decodes strictly as
// oc-mirror's DeleteImageList (its Go type, field for field) and reads back
// with what a reviewer needs (shared tags, platform images, attachments).
func TestWriteIsOcMirrorShape(t *testing.T) {
	const child = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const sig = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	in := &List{Registry: "mirror.local:5000", Items: []Item{
		{Source: "quay.io/a/tools:1.0", Destination: "mirror.local:5000/m/a/tools:1.0", Repository: "m/a/tools", Digest: dg, Type: "generic", SharedWith: []string{"mirror.local:5000/m/a/tools:latest", "mirror.local:5000/m/a/tools:stable"}},
		{Source: "quay.io/a/tools@" + child, Repository: "m/a/tools", Digest: child, Parent: dg, Type: "generic"},
		{Source: "quay.io/a/tools:sha256-abc.sig", Repository: "m/a/tools", Digest: sig, Type: "generic", Attached: "signature of " + dg},
		{Repository: "m/helm/charts/podinfo", Digest: sig, Type: "helmImage"},
	}}
	p := filepath.Join(t.TempDir(), "delete-images.yaml")
	if err := Write(p, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// oc-mirror's v2alpha1.DeleteImageList and DeleteItem, as its Go types
	// name the fields (ImageType decodes from its string name).
	var o struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Items      []struct {
			ImageName      string `json:"imageName"`
			ImageReference string `json:"imageReference"`
			Type           string `json:"type"`
		} `json:"items"`
	}
	if err := yaml.UnmarshalStrict(b, &o); err != nil {
		t.Fatalf("not oc-mirror's DeleteImageList: %v\n%s", err, b)
	}
	if o.Kind != "DeleteImageList" || o.APIVersion != "mirror.openshift.io/v2alpha1" || len(o.Items) != 4 {
		t.Fatalf("%+v", o)
	}
	wantRefs := []string{"docker://mirror.local:5000/m/a/tools@" + dg, "docker://mirror.local:5000/m/a/tools@" + child, "docker://mirror.local:5000/m/a/tools@" + sig, "docker://mirror.local:5000/m/helm/charts/podinfo@" + sig}
	for i, w := range wantRefs {
		if o.Items[i].ImageReference != w || o.Items[i].Type != in.Items[i].Type || o.Items[i].ImageName == "" {
			t.Errorf("items[%d] = %+v, want imageReference %s type %s", i, o.Items[i], w, in.Items[i].Type)
		}
	}
	out, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if out.Registry != in.Registry || len(out.Items) != len(in.Items) {
		t.Fatalf("read back %+v", out)
	}
	for i, w := range in.Items {
		g := out.Items[i]
		if g.Repository != w.Repository || g.Digest != w.Digest || g.Parent != w.Parent || g.Attached != w.Attached || strings.Join(g.SharedWith, " ") != strings.Join(w.SharedWith, " ") || g.Type != w.Type {
			t.Errorf("items[%d] read back as %+v, want %+v", i, g, w)
		}
	}
	// An empty list is one too, and deletes nothing.
	if err := Write(p, &List{Registry: "mirror.local:5000"}); err != nil {
		t.Fatal(err)
	}
	if l, err := Read(p); err != nil || len(l.Items) != 0 {
		t.Fatalf("empty list: %+v, %v", l, err)
	}
}
