package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
)

// sparseISC asks for two platforms of the fixture's four-platform index.
func sparseISC(src string) string {
	return "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n" +
		"  - name: " + src + "/multiarch/tools:1.0\n    platforms:\n    - {os: linux, architecture: arm64}\n    - {os: linux, architecture: s390x}\n"
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// manifestStatus is the registry's answer to a GET of repo's manifest ref.
func manifestStatus(t *testing.T, reg *testenv.Registry, repo, ref string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg.Host, repo, ref), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := reg.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestI25Sparse: an additional image with platforms is copied
// sparse (oc-mirror 4.23): the index unchanged (same digest at the mirror),
// only the chosen platforms' manifests and blobs, through the cache, the
// archives and back; the other platforms' manifests answer 404 at the
// mirror, and so does what is attached to them. Distribution 2.x refuses the sparse index: the image fails with
// the registry setting and --no-sparse named, and --no-sparse copies whole.
func TestI25Sparse(t *testing.T) {
	v3 := testenv.StartV3(t, filepath.Join(repoRoot(t), "bin", "registry-v3"), testenv.RegistryOptions{})
	src := testenv.Start(t, testenv.RegistryOptions{})
	v2 := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 64<<10)
	var idx fixture.Image
	for _, img := range set.Images {
		if img.Repo == "multiarch/tools" {
			idx = img
		}
	}
	raw, err := testenv.Skopeo(context.Background(), "inspect", "--raw", "--tls-verify=false", "docker://"+src.Host+"/multiarch/tools:1.0")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := manifest.Parse(raw, idx.MediaType)
	if err != nil {
		t.Fatal(err)
	}
	child := map[string]string{}
	for _, d := range m.Manifests {
		child[d.Platform.Architecture] = d.Digest
	}
	// Signatures of a copied and of a left-out platform: only the first
	// travels (the other's subject is absent at the mirror).
	sigTag := map[string]string{}
	for _, arch := range []string{"arm64", "amd64"} {
		if _, err := (fixture.Options{Host: src.Host}).Attach(context.Background(), "multiarch/tools", child[arch], arch); err != nil {
			t.Fatal(err)
		}
		sigTag[arch] = strings.Replace(child[arch], ":", "-", 1) + ".sig"
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), sparseISC(src.Host))

	// Mirror to disk to mirror, sparse all the way.
	r := sh(t, dir, nil, "ocm-plan -c isc.yaml | tee plan.jsonl | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl")
	if r.code != 0 {
		t.Fatalf("plan, fetch, pack: exit %d", r.code)
	}
	rec := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)[0]
	if !rec.Sparse || !reflect.DeepEqual(rec.Platforms, []string{"linux/arm64", "linux/s390x"}) {
		t.Errorf("planned record: sparse %v platforms %v, want sparse [linux/arm64 linux/s390x]", rec.Sparse, rec.Platforms)
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s/m > pushed.jsonl", v3.Host))
	if r.code != 0 {
		t.Fatalf("unpack, push: exit %d", r.code)
	}
	if got := skopeoDigest(t, "docker://"+v3.Host+"/m/multiarch/tools:1.0", "--tls-verify=false"); got != idx.Digest {
		t.Errorf("index at the mirror %s, source %s: not the same index", got, idx.Digest)
	}
	for arch, want := range map[string]int{"arm64": 200, "s390x": 200, "amd64": 404, "ppc64le": 404} {
		if got := manifestStatus(t, v3, "m/multiarch/tools", child[arch]); got != want {
			t.Errorf("%s manifest at the mirror: %d, want %d", arch, got, want)
		}
	}

	for arch, want := range map[string]int{"arm64": 200, "amd64": 404} {
		if got := manifestStatus(t, v3, "m/multiarch/tools", sigTag[arch]); got != want {
			t.Errorf("signature of the %s manifest at the mirror: %d, want %d", arch, got, want)
		}
	}

	// The whole index's archive, for scale: the sparse one carries two of
	// four platforms' own layers.
	r = sh(t, dir, nil, "ocm-plan --no-sparse -c isc.yaml | ocm-fetch --cache whole | ocm-pack --cache whole --out wholearch > /dev/null")
	if r.code != 0 {
		t.Fatalf("whole: exit %d", r.code)
	}
	sparse, whole := dirBytes(t, filepath.Join(dir, "archives")), dirBytes(t, filepath.Join(dir, "wholearch"))
	if sparse >= whole*3/4 {
		t.Errorf("sparse archives %d bytes, whole %d: the other platforms' blobs travelled", sparse, whole)
	}

	// Distribution 2.x refuses the sparse index: the image fails naming the
	// setting and --no-sparse; --no-sparse copies it whole.
	r = sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s/m > refused.jsonl", v2.Host))
	if r.code != 1 {
		t.Errorf("push of a sparse index to distribution 2.x: exit %d, want 1", r.code)
	}
	for _, w := range []string{"validation.manifests.indexes.platforms: none", "--no-sparse", "refused the sparse index"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("refusal does not say %q:\n%s", w, r.stderr)
		}
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-plan --no-sparse -c isc.yaml | ocm-push docker://%s/m > whole.jsonl", v2.Host))
	if r.code != 0 {
		t.Fatalf("--no-sparse push: exit %d", r.code)
	}
	for arch, d := range child {
		if got := manifestStatus(t, v2, "m/multiarch/tools", d); got != 200 {
			t.Errorf("--no-sparse: %s manifest at the mirror: %d, want 200", arch, got)
		}
	}
}

// TestI25SparseRelease: mirror.platform.platforms plans the multi payload
// sparse, as oc-mirror 4.23: the index at the mirror is the source's, the
// chosen platform's manifest is there and the other's answers 404.
func TestI25SparseRelease(t *testing.T) {
	v3 := testenv.StartV3(t, filepath.Join(repoRoot(t), "bin", "registry-v3"), testenv.RegistryOptions{})
	src, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 3})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+`mirror:
  platform:
    platforms:
    - {os: linux, architecture: arm64}
    channels:
    - name: stable-4.15
      minVersion: 4.15.3
      maxVersion: 4.15.3
`)
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s > pushed.jsonl", v3.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	payload := rs.Payloads["4.15.3/multi"]
	var rec *record.Record
	for _, x := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if x.Origin == record.OriginRelease {
			rec = x
		}
	}
	if rec == nil || rec.Digest != payload || !rec.Sparse || strings.Join(rec.Platforms, " ") != "linux/arm64" {
		t.Fatalf("payload record %+v, want %s sparse [linux/arm64]", rec, payload)
	}
	if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != payload {
		t.Errorf("payload at the mirror %s, source %s", got, payload)
	}
	raw, err := testenv.Skopeo(context.Background(), "inspect", "--raw", "--tls-verify=false", "docker://"+src.Host+"/"+fixture.PayloadRepo+"@"+payload)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := manifest.Parse(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		want := map[string]int{"arm64": 200, "amd64": 404}[d.Platform.Architecture]
		if got := manifestStatus(t, v3, "openshift/release-images", d.Digest); got != want {
			t.Errorf("%s payload manifest at the mirror: %d, want %d", d.Platform.Architecture, got, want)
		}
	}
}

// TestI25SparseOperator: operators[].platforms plans the bundle and related
// images sparse: a multi-arch operand lands with its index unchanged and
// only the chosen platform's manifest.
func TestI25SparseOperator(t *testing.T) {
	v3 := testenv.StartV3(t, filepath.Join(repoRoot(t), "bin", "registry-v3"), testenv.RegistryOptions{})
	src := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, MultiArchOperands: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  operators:\n  - catalog: "+cat.Ref+"\n    platforms:\n    - {os: linux, architecture: arm64}\n    packages:\n    - name: gamma\n")
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache docker://%s > pushed.jsonl", v3.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var operand string
	for _, x := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if x.Status != record.StatusPushed {
			t.Errorf("%s: %s %s", x.Source, x.Status, x.Error)
		}
		if !strings.Contains(x.Source, "/operands/gamma@") {
			continue
		}
		operand = x.Digest
		if !x.Sparse || strings.Join(x.Platforms, " ") != "linux/arm64" {
			t.Errorf("operand record sparse %v platforms %v, want sparse [linux/arm64]", x.Sparse, x.Platforms)
		}
	}
	if operand == "" {
		t.Fatal("no operand record")
	}
	raw, err := testenv.Skopeo(context.Background(), "inspect", "--raw", "--tls-verify=false", "docker://"+src.Host+"/operands/gamma@"+operand)
	if err != nil {
		t.Fatal(err)
	}
	if got := skopeoDigest(t, "docker://"+v3.Host+"/operands/gamma@"+operand, "--tls-verify=false"); got != operand {
		t.Errorf("operand index at the mirror %s, source %s", got, operand)
	}
	m, _, err := manifest.Parse(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		want := map[string]int{"arm64": 200, "amd64": 404, "s390x": 404}[d.Platform.Architecture]
		if got := manifestStatus(t, v3, "operands/gamma", d.Digest); got != want {
			t.Errorf("%s operand manifest at the mirror: %d, want %d", d.Platform.Architecture, got, want)
		}
	}
}
