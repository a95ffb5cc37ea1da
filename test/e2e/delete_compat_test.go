package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/deletion"
	"github.com/ocm-mirror/ocm/lib/record"
)

// ocMirrorDeleteImageList is oc-mirror v2's v2alpha1.DeleteImageList with
// its DeleteItem, field for field as its Go types name them (Type is its
// ImageType, which reads and writes its string name).
type ocMirrorDeleteImageList struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Items      []struct {
		ImageName      string `json:"imageName"`
		ImageReference string `json:"imageReference"`
		Type           string `json:"type"`
	} `json:"items"`
}

// ocMirrorTypes are the names oc-mirror's ImageType reads.
var ocMirrorTypes = map[string]bool{"ocpReleaseContent": true, "cincinnatiGraph": true, "ocpRelease": true, "operatorCatalog": true, "operatorBundle": true, "operatorRelatedImage": true, "generic": true, "helmImage": true}

// readAsOcMirror decodes the list at path strictly as oc-mirror does: no
// field its type lacks, each type one it knows. It returns the references.
func readAsOcMirror(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l ocMirrorDeleteImageList
	if err := yaml.UnmarshalStrict(b, &l); err != nil {
		t.Fatalf("%s is not oc-mirror's DeleteImageList: %v\n%s", path, err, b)
	}
	if l.Kind != "DeleteImageList" || l.APIVersion != "mirror.openshift.io/v2alpha1" {
		t.Fatalf("%s: kind %q apiVersion %q", path, l.Kind, l.APIVersion)
	}
	var out []string
	for i, it := range l.Items {
		if !ocMirrorTypes[it.Type] || it.ImageName == "" || !strings.HasPrefix(it.ImageReference, "docker://") {
			t.Errorf("%s: items[%d] %+v is not as oc-mirror reads it", path, i, it)
		}
		out = append(out, it.ImageReference)
	}
	return out
}

// present says whether ref (host/repo:tag or @digest) names a manifest of
// the registry; anything but found or 404 fails the test.
func present(t *testing.T, ref string) bool {
	t.Helper()
	_, err := remote.Head(mustRef(t, ref))
	var te *transport.Error
	switch {
	case err == nil:
		return true
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return false
	}
	t.Fatalf("HEAD %s: %v", ref, err)
	return false
}

// TestI25DeleteHelm: delete.helm (as oc-mirror's own delete configurations
// use it) plans the chart artifact and the chart's images; --generate lists
// them in oc-mirror's DeleteImageList shape, named by digest; deleting
// removes them and leaves the other chart and its images.
func TestI25DeleteHelm(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	populate(t, src)
	h := src.Host
	dir := t.TempDir()
	repo, err := fixture.NewHelmRepo(t.TempDir(), fixture.HelmChart("web", "1.0.0", h+"/ubi9/ubi:latest", h+"/ubi9/ubi-minimal:latest", ""))
	if err != nil {
		t.Fatal(err)
	}
	charts := httptest.NewServer(repo)
	defer charts.Close()
	if err := chartutil.SaveDir(fixture.HelmChart("local", "0.1.0", h+"/docker/legacy:v1", h+"/nested/a/b/c/deep:1.0", ""), filepath.Join(dir, "charts")); err != nil {
		t.Fatal(err)
	}
	helmSpec := fmt.Sprintf("  helm:\n    repositories:\n    - name: fixture\n      url: %s\n      charts:\n      - name: web\n        version: 1.0.0\n", charts.URL)
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n"+helmSpec+"    local:\n    - name: local\n      path: charts/local\n")
	target := "docker://" + dst.Host + "/m"
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > pushed.jsonl"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	digests := map[string]string{} // destination -> digest, as pushed
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("not pushed: %+v", rec)
		}
		digests[rec.Destination] = rec.Digest
	}
	gone := []string{"helm/charts/web:1.0.0", "ubi9/ubi:latest", "ubi9/ubi-minimal:latest"}
	stay := []string{"helm/charts/local:0.1.0", "docker/legacy:v1", "nested/a/b/c/deep:1.0"}
	for _, d := range append(append([]string(nil), gone...), stay...) {
		if digests[d] == "" {
			t.Fatalf("%s not pushed: %v", d, digests)
		}
	}

	writeFile(t, filepath.Join(dir, "delete.yaml"), "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n"+helmSpec)
	if r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	listed := readAsOcMirror(t, filepath.Join(dir, "ws", "delete", "delete-images.yaml"))
	var want []string
	for _, d := range gone {
		path, _, _ := strings.Cut(d, ":")
		want = append(want, "docker://"+dst.Host+"/m/"+path+"@"+digests[d])
	}
	if strings.Join(listed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("listed\n%s\nwant\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"))
	}
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 || !strings.Contains(r.stderr, "deleted 3 manifests") {
		t.Fatalf("delete exit %d", r.code)
	}
	for _, d := range gone {
		if present(t, dst.Host+"/m/"+d) {
			t.Errorf("%s is still in the mirror", d)
		}
	}
	for _, d := range stay {
		if !present(t, dst.Host+"/m/"+d) {
			t.Errorf("%s was deleted", d)
		}
	}
}

// TestI25DeleteSignatures: with --delete-signatures the list also names
// what is attached to each deleted image at the mirror (cosign's .sig and
// .att tags, the SBOM referrer and the referrers tag index, the platforms'
// signatures), and deleting removes them; the attachments of kept images
// stay, still verifying, and so does an image under a deleted image's .sig
// tag that is no signature. Without the flag the list names the images only.
// --delete-id names the file as oc-mirror does.
func TestI25DeleteSignatures(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	s := signFixture(t, dir, src, set)
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	target := "docker://" + dst.Host
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > pushed.jsonl"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	atts := map[string][]record.Attachment{} // image digest -> its attachments at the mirror
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		atts[rec.Digest] = rec.Attachments
	}
	// ubi9/ubi:latest goes with 9.4 (one manifest), the tools index with
	// its platforms; docker/legacy and digestonly/app stay.
	if n := len(atts[s.ubi.Digest]); n != 4 {
		t.Fatalf("ubi9/ubi has %d attachments at the mirror, want 4", n)
	}
	if n := len(atts[s.multi.Digest]); n != 5 {
		t.Fatalf("multiarch/tools has %d attachments at the mirror, want 5", n)
	}
	// At the mirror, the unsigned ubi9/ubi-minimal's .sig tag names another
	// image (docker/legacy's): not a signature, so it is not listed and stays.
	minimalHex, _ := strings.CutPrefix(s.minimal.Digest, "sha256:")
	fake := dst.Host + "/" + s.minimal.Repo + ":sha256-" + minimalHex + ".sig"
	legacyImg, err := remote.Image(mustRef(t, src.Host+"/"+s.legacy.Repo+"@"+s.legacy.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, fake), legacyImg); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "delete.yaml"), deleteHead+fmt.Sprintf("  - name: %[1]s/ubi9/ubi:latest\n  - name: %[1]s/multiarch/tools:1.0\n  - name: %[1]s/ubi9/ubi-minimal:latest\n", src.Host))
	at := func(repo, digest string) string { return dst.Host + "/" + repo + "@" + digest }
	var gone []string
	for _, a := range atts[s.ubi.Digest] {
		gone = append(gone, at(s.ubi.Repo, a.Digest))
	}
	for _, a := range atts[s.multi.Digest] {
		gone = append(gone, at(s.multi.Repo, a.Digest))
	}

	// Without the flag: the images only, as before.
	if r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	plain := strings.Join(readAsOcMirror(t, filepath.Join(dir, "ws", "delete", "delete-images.yaml")), "\n")
	for _, g := range gone {
		if strings.Contains(plain, g) {
			t.Errorf("listed without --delete-signatures: %s", g)
		}
	}

	r := sh(t, dir, nil, "ocm-plan -c delete.yaml | ocm-delete --generate --delete-signatures --delete-id sigs --workspace ws "+target)
	if r.code != 0 || !strings.Contains(r.stderr, "9 signatures and referrers") || !strings.Contains(r.stderr, "signature "+s.legacy.Digest+" (sha256-"+minimalHex+".sig) not listed") {
		t.Fatalf("generate --delete-signatures exit %d", r.code)
	}
	file := filepath.Join(dir, "ws", "delete", "delete-images-sigs.yaml")
	listed := strings.Join(readAsOcMirror(t, file), "\n")
	for _, g := range append([]string{at(s.ubi.Repo, s.ubi.Digest), at(s.multi.Repo, s.multi.Digest)}, gone...) {
		if !strings.Contains(listed, "docker://"+g) {
			t.Errorf("not listed: %s", g)
		}
	}
	l, err := deletion.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 3+4+9 {
		t.Fatalf("%d items, want 16 (3 images, 4 platforms, 9 attachments):\n%s", len(l.Items), listed)
	}
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file "+file+" "+target); r.code != 0 || !strings.Contains(r.stderr, "deleted 16 manifests") {
		t.Fatalf("delete exit %d", r.code)
	}
	for _, g := range gone {
		if present(t, g) {
			t.Errorf("attachment %s is still in the mirror", g)
		}
	}
	sigTag, _ := strings.CutPrefix(s.ubi.Digest, "sha256:")
	for _, tag := range []string{".sig", ".att", ""} {
		if present(t, dst.Host+"/"+s.ubi.Repo+":sha256-"+sigTag+tag) {
			t.Errorf("tag sha256-<hex>%s of the deleted ubi9/ubi is still in the mirror", tag)
		}
	}
	for _, img := range []fixture.Image{s.legacy, s.app} {
		if len(atts[img.Digest]) == 0 {
			t.Fatalf("%s has no attachment at the mirror to keep", img.Repo)
		}
		for _, a := range atts[img.Digest] {
			if !present(t, at(img.Repo, a.Digest)) {
				t.Errorf("attachment %s of the kept %s was deleted", a.Digest, img.Repo)
			}
		}
	}
	if !present(t, fake) || !present(t, at(s.legacy.Repo, s.legacy.Digest)) {
		t.Errorf("the image under ubi9/ubi-minimal's .sig tag, not a signature, was deleted")
	}
	if !cosignVerify(t, dir, "other.pub", at(s.legacy.Repo, s.legacy.Digest)) || !cosignVerify(t, dir, "cosign.pub", at(s.app.Repo, s.app.Digest)) {
		t.Error("a kept image's signature no longer verifies at the mirror")
	}
}

// TestI25OcMirrorListDeletes: a delete-images.yaml exactly as oc-mirror
// writes it (items by tag and by digest, its types, sorted by reference)
// deletes what it names and nothing else.
func TestI25OcMirrorListDeletes(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	target := "docker://" + dst.Host + "/m"
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push "+target+" > /dev/null"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	legacy, _ := set.ByRepo("docker/legacy")
	writeFile(t, filepath.Join(dir, "delete-images.yaml"), fmt.Sprintf(`apiVersion: mirror.openshift.io/v2alpha1
items:
- imageName: %[1]s/docker/legacy@%[3]s
  imageReference: docker://%[2]s/m/docker/legacy:v1@%[3]s
  type: operatorRelatedImage
- imageName: %[1]s/ubi9/ubi-minimal:latest
  imageReference: docker://%[2]s/m/ubi9/ubi-minimal:latest
  type: generic
kind: DeleteImageList
`, src.Host, dst.Host, legacy.Digest))
	// --delete-signatures and --delete-id shape a generated list only.
	if r := sh(t, dir, nil, "ocm-delete --delete-signatures --delete-yaml-file delete-images.yaml "+target); r.code != 2 || !strings.Contains(r.stderr, "fix: give them with --generate") {
		t.Fatalf("--delete-signatures with --delete-yaml-file: exit %d", r.code)
	}
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file file://$PWD/delete-images.yaml "+target); r.code != 0 || !strings.Contains(r.stderr, "deleted 2 manifests") {
		t.Fatalf("delete exit %d", r.code)
	}
	for ref, want := range map[string]bool{"docker/legacy:v1": false, "ubi9/ubi-minimal:latest": false, "ubi9/ubi:latest": true, "multiarch/tools:1.0": true} {
		if got := present(t, dst.Host+"/m/"+ref); got != want {
			t.Errorf("%s: present %v, want %v", ref, got, want)
		}
	}
}
