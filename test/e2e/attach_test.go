package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// cosignEnv: keys without a password; the experimental switch is what
// cosign asks before it writes OCI 1.1 referrers.
var cosignEnv = []string{"COSIGN_PASSWORD=", "COSIGN_EXPERIMENTAL=1"}

const cosignReg = "--allow-http-registry --allow-insecure-registry"

// signed says how signFixture left the source.
type signed struct {
	ubi, minimal, multi, legacy, app fixture.Image
	children                         []string // the platforms' manifests of multi
}

// signFixture signs with the real cosign CLI, in dir: cosign.key signs
// ubi9/ubi (plus an SPDX attestation under the .att tag and an SPDX SBOM as
// an OCI referrer), every platform of multiarch/tools and digestonly/app;
// other.key signs docker/legacy; ubi9/ubi-minimal stays unsigned.
func signFixture(t *testing.T, dir string, src *testenv.Registry, set *fixture.Set) signed {
	t.Helper()
	cosign := tool(t, "cosign")
	var s signed
	s.ubi, _ = set.ByRepo("ubi9/ubi")
	s.minimal, _ = set.ByRepo("ubi9/ubi-minimal")
	s.multi, _ = set.ByRepo("multiarch/tools")
	s.legacy, _ = set.ByRepo("docker/legacy")
	s.app, _ = set.ByRepo("digestonly/app")
	writeFile(t, filepath.Join(dir, "sbom.spdx.json"), `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"ubi","documentNamespace":"https://example.com/ubi","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: test"]},"packages":[]}`)
	ref := func(img fixture.Image) string { return src.Host + "/" + img.Repo + "@" + img.Digest }
	script := strings.Join([]string{
		cosign + " generate-key-pair",
		cosign + " generate-key-pair --output-key-prefix other",
		fmt.Sprintf("%s sign %s --key cosign.key --tlog-upload=false --yes %s", cosign, cosignReg, ref(s.ubi)),
		fmt.Sprintf("%s attest %s --key cosign.key --tlog-upload=false --yes --type spdxjson --predicate sbom.spdx.json %s", cosign, cosignReg, ref(s.ubi)),
		fmt.Sprintf("%s attach sbom %s --registry-referrers-mode oci-1-1 --type spdx --sbom sbom.spdx.json %s", cosign, cosignReg, ref(s.ubi)),
		fmt.Sprintf("%s sign %s --key cosign.key --tlog-upload=false --yes --recursive %s", cosign, cosignReg, ref(s.multi)),
		fmt.Sprintf("%s sign %s --key cosign.key --tlog-upload=false --yes %s", cosign, cosignReg, ref(s.app)),
		fmt.Sprintf("%s sign %s --key other.key --tlog-upload=false --yes %s", cosign, cosignReg, ref(s.legacy)),
	}, " && ")
	if r := sh(t, dir, cosignEnv, script); r.code != 0 {
		t.Fatalf("signing the fixture: exit %d", r.code)
	}
	idx, err := remote.Index(mustRef(t, ref(s.multi)))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		s.children = append(s.children, m.Digest.String())
	}
	return s
}

// cosignVerify runs cosign verify (or verify-attestation with extra) with
// key against ref; it reports whether cosign accepted the signature.
func cosignVerify(t *testing.T, dir, key, ref string, extra ...string) bool {
	t.Helper()
	cmd := "verify"
	if len(extra) > 0 {
		cmd = "verify-attestation " + strings.Join(extra, " ")
	}
	return sh(t, dir, cosignEnv, fmt.Sprintf("%s %s %s --key %s --insecure-ignore-tlog %s > /dev/null", tool(t, "cosign"), cmd, cosignReg, key, ref)).code == 0
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// referrerTypes asks the registry for what refers to ref's digest, as
// go-containerregistry does (the referrers API, else the tag schema).
func referrerTypes(t *testing.T, ref string) []string {
	t.Helper()
	d, ok := mustRef(t, ref).(name.Digest)
	if !ok {
		t.Fatalf("%s is not by digest", ref)
	}
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatalf("referrers of %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range im.Manifests {
		out = append(out, m.ArtifactType)
	}
	return out
}

// checkSignedMirror checks, at the mirror under prefix, what cosign and a
// referrers client see of signFixture's images.
func checkSignedMirror(t *testing.T, dir, prefix string, s signed) {
	t.Helper()
	at := func(img fixture.Image, digest string) string { return prefix + "/" + img.Repo + "@" + digest }
	for _, ref := range []string{at(s.ubi, s.ubi.Digest), at(s.app, s.app.Digest), at(s.multi, s.multi.Digest)} {
		if !cosignVerify(t, dir, "cosign.pub", ref) {
			t.Errorf("cosign verify --key cosign.pub %s failed at the mirror", ref)
		}
	}
	for _, c := range s.children {
		if !cosignVerify(t, dir, "cosign.pub", at(s.multi, c)) {
			t.Errorf("platform %s of %s: cosign verify failed at the mirror", c, s.multi.Repo)
		}
	}
	if !cosignVerify(t, dir, "cosign.pub", at(s.ubi, s.ubi.Digest), "--type", "spdxjson") {
		t.Errorf("cosign verify-attestation --type spdxjson failed for %s at the mirror", s.ubi.Repo)
	}
	if cosignVerify(t, dir, "cosign.pub", at(s.minimal, s.minimal.Digest)) {
		t.Errorf("the unsigned %s verified at the mirror", s.minimal.Repo)
	}
	if cosignVerify(t, dir, "cosign.pub", at(s.legacy, s.legacy.Digest)) || !cosignVerify(t, dir, "other.pub", at(s.legacy, s.legacy.Digest)) {
		t.Errorf("%s at the mirror: want signed by other.key only", s.legacy.Repo)
	}
	types := referrerTypes(t, at(s.ubi, s.ubi.Digest))
	// cosign attach sbom --registry-referrers-mode oci-1-1 names its artifact so.
	if len(types) != 1 || types[0] != "application/vnd.dev.cosign.artifact.sbom.v1+json" {
		t.Errorf("referrers of %s at the mirror: %v, want cosign's SBOM artifact", s.ubi.Repo, types)
	}
}

var attachedRe = regexp.MustCompile(`(\d+) attachments \(.*\) with the images, (\d+) copied in this run`)

// attachedCopied reads the summary's attachment line: found, copied.
func attachedCopied(t *testing.T, stderr string) (int, int) {
	t.Helper()
	m := attachedRe.FindStringSubmatch(stderr)
	if m == nil {
		return 0, 0
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a, b
}

func kindsOf(rec *record.Record) string {
	var ks []string
	for _, a := range rec.Attachments {
		ks = append(ks, a.Kind)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestAttachmentsMirrorToMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	s := signFixture(t, dir, src, set)
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	run := func(out, prefix, flags string) result {
		return sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-push %s docker://%s/%s > %s", isc, flags, dst.Host, prefix, out))
	}
	r := run("pushed.jsonl", "mirror", "")
	if r.code != 0 {
		t.Fatalf("m2m exit %d", r.code)
	}
	// The source as the judge of the judge: cosign accepts there what it must accept at the mirror.
	if !cosignVerify(t, dir, "cosign.pub", src.Host+"/"+s.ubi.Repo+"@"+s.ubi.Digest) {
		t.Fatal("cosign does not verify the signed source image")
	}
	checkSignedMirror(t, dir, dst.Host+"/mirror", s)

	want := map[string]string{
		s.ubi.Digest:     "attestation,referrer,referrers-tag,signature",
		s.minimal.Digest: "",
		s.app.Digest:     "signature",
		s.legacy.Digest:  "signature",
	}
	// cosign sign --recursive signs the index and each of its 4 platforms.
	want[s.multi.Digest] = "signature,signature,signature,signature,signature"
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if w, ok := want[rec.Digest]; ok && kindsOf(rec) != w {
			t.Errorf("%s: attachments %q, want %q", rec.Source, kindsOf(rec), w)
		}
	}
	found, copied := attachedCopied(t, r.stderr)
	if found == 0 || copied == 0 {
		t.Fatalf("summary: %d attachments, %d copied; want some", found, copied)
	}

	// Rerun: nothing new moves.
	r = run("pushed2.jsonl", "mirror", "")
	if r.code != 0 {
		t.Fatalf("rerun exit %d", r.code)
	}
	if n := blobsMoved(t, r.stderr); n != 0 {
		t.Errorf("rerun moved %d blobs", n)
	}
	if f2, c2 := attachedCopied(t, r.stderr); f2 != found || c2 != 0 {
		t.Errorf("rerun: %d attachments, %d copied; want %d, 0", f2, c2, found)
	}

	// A signature added upstream is picked up by the next run.
	if sh(t, dir, cosignEnv, fmt.Sprintf("%s sign %s --key cosign.key --tlog-upload=false --yes %s/%s@%s", tool(t, "cosign"), cosignReg, src.Host, s.minimal.Repo, s.minimal.Digest)).code != 0 {
		t.Fatal("signing ubi-minimal")
	}
	r = run("pushed3.jsonl", "mirror", "")
	if r.code != 0 {
		t.Fatalf("third run exit %d", r.code)
	}
	if _, c3 := attachedCopied(t, r.stderr); c3 != 1 {
		t.Errorf("after a new upstream signature: %d attachments copied, want 1", c3)
	}
	if !cosignVerify(t, dir, "cosign.pub", dst.Host+"/mirror/"+s.minimal.Repo+"@"+s.minimal.Digest) {
		t.Error("the signature added upstream did not reach the mirror")
	}

	// --remove-signatures: none of it.
	r = run("bare.jsonl", "bare", "--remove-signatures")
	if r.code != 0 {
		t.Fatalf("--remove-signatures exit %d", r.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat bare.jsonl").stdout) {
		if len(rec.Attachments) > 0 {
			t.Errorf("%s: attachments %v with --remove-signatures", rec.Source, kindsOf(rec))
		}
	}
	for _, img := range []fixture.Image{s.ubi, s.multi, s.app, s.legacy} {
		tags, err := remote.List(mustRef(t, dst.Host+"/bare/"+img.Repo+":x").Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range tags {
			if strings.HasSuffix(tg, ".sig") || strings.HasSuffix(tg, ".att") || (strings.HasPrefix(tg, "sha256-") && img.Repo != s.app.Repo) {
				t.Errorf("--remove-signatures: %s has tag %s", img.Repo, tg)
			}
		}
	}
	if types := referrerTypes(t, dst.Host+"/bare/"+s.ubi.Repo+"@"+s.ubi.Digest); len(types) != 0 {
		t.Errorf("--remove-signatures: referrers %v at the mirror", types)
	}
}

// m2d then d2m with the source stopped: the attachments cross in the archives.
func TestAttachmentsAcrossTheGap(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	s := signFixture(t, dir, src, set)
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl")
	if r.code != 0 {
		t.Fatalf("mirror to disk: exit %d", r.code)
	}
	dst := testenv.Start(t, testenv.RegistryOptions{})
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s/m > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("disk to mirror: exit %d", r.code)
	}
	checkSignedMirror(t, dir, dst.Host+"/m", s)
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Digest == s.ubi.Digest && kindsOf(rec) != "attestation,referrer,referrers-tag,signature" {
			t.Errorf("%s: attachments %q after the gap", rec.Source, kindsOf(rec))
		}
	}
	if _, copied := attachedCopied(t, r.stderr); copied == 0 {
		t.Error("push from the cache copied no attachments")
	}

	// A signature added upstream: the next (incremental) set carries it
	// alone, its 3 blobs (manifest, config, payload), and no image blob again.
	if err := src.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sh(t, dir, cosignEnv, fmt.Sprintf("%s sign %s --key cosign.key --tlog-upload=false --yes %s/%s@%s", tool(t, "cosign"), cosignReg, src.Host, s.minimal.Repo, s.minimal.Digest)).code != 0 {
		t.Fatal("signing ubi-minimal")
	}
	r = sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed2.jsonl")
	if r.code != 0 {
		t.Fatalf("second mirror to disk: exit %d", r.code)
	}
	m := wroteRe.FindAllStringSubmatch(r.stderr, -1)
	if len(m) != 1 || m[0][1] != "3" {
		t.Errorf("second set: archives %v; want one of 3 blobs (the new signature's manifest, config and payload)", m)
	}
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s/m > pushed2.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("second disk to mirror: exit %d", r.code)
	}
	if _, copied := attachedCopied(t, r.stderr); copied != 1 {
		t.Errorf("second push from the cache copied %d attachments, want the 1 new signature", copied)
	}
	if !cosignVerify(t, dir, "cosign.pub", dst.Host+"/m/"+s.minimal.Repo+"@"+s.minimal.Digest) {
		t.Error("the signature added upstream did not cross the gap")
	}
}

var wroteRe = regexp.MustCompile(`wrote \S+: (\d+) blobs`)

// --secure-policy refuses exactly the unsigned, wrongly signed and rejected
// images, each alone with the requirement named, and the rest is mirrored.
func TestSecurePolicy(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	s := signFixture(t, dir, src, set)
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	keyData := strings.TrimSpace(sh(t, dir, nil, "base64 -w0 cosign.pub").stdout)
	writeFile(t, filepath.Join(dir, "policy.json"), fmt.Sprintf(`{
  "default": [{"type": "reject"}],
  "transports": {"docker": {
    "%[1]s": [{"type": "sigstoreSigned", "keyPath": "%[2]s/cosign.pub", "signedIdentity": {"type": "matchRepository"}}],
    "%[1]s/multiarch/tools": [{"type": "sigstoreSigned", "keyData": "%[3]s"}],
    "%[1]s/nested": [{"type": "insecureAcceptAnything"}],
    "%[1]s/docker/list": [{"type": "reject"}]
  }}
}`, src.Host, dir, keyData))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy policy.json -c %s | ocm-push docker://%s/sp > pushed.jsonl", isc, dst.Host))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (some images refused)", r.code)
	}
	refused := map[string]string{
		s.minimal.Repo: "requirement sigstoreSigned): " + src.Host + "/" + s.minimal.Repo + "@" + s.minimal.Digest + " has no sigstore signature",
		s.legacy.Repo:  "requirement sigstoreSigned): " + src.Host + "/" + s.legacy.Repo + "@" + s.legacy.Digest + " has no signature by the policy's key",
		"docker/list":  "requirement reject)",
	}
	checkPolicyOutcome(t, dir, src.Host, dst.Host, "sp", refused)
	if !cosignVerify(t, dir, "cosign.pub", dst.Host+"/sp/"+s.ubi.Repo+"@"+s.ubi.Digest) {
		t.Error("an accepted image lacks its signature at the mirror")
	}

	// A policy ocm cannot evaluate stops the plan before anything is read.
	writeFile(t, filepath.Join(dir, "x509.json"), `{"default":[{"type":"signedBy","keyType":"X509Certificates","keyPath":"cosign.pub"}]}`)
	r = sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy x509.json -c %s", isc))
	if r.code != 2 || !strings.Contains(r.stderr, `x509.json: default[0] (signedBy): keyType "X509Certificates" is not supported`) {
		t.Errorf("signedBy X509Certificates policy: exit %d, want 2 naming the file, requirement and keyType", r.code)
	}
}
