package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestReleaseSignatureFailures: a release whose signature is missing, made
// by another key, made for another digest, garbage or truncated stops
// ocm-plan (exit 1, no record written) with an error naming the version,
// the payload digest and what failed. --ignore-release-signature plans it
// anyway, with a warning per release.
func TestReleaseSignatureFailures(t *testing.T) {
	faults := map[string]string{
		"4.15.0": fixture.SigMissing,
		"4.15.1": fixture.SigOtherKey,
		"4.15.2": fixture.SigOtherDigest,
		"4.15.3": fixture.SigGarbage,
		"4.14.5": fixture.SigTruncated,
	}
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2, SignatureFaults: faults})
	dir := t.TempDir()
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL}
	isc := func(v string) string {
		return writeFile(t, filepath.Join(dir, v+".yaml"), head+fmt.Sprintf("mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: %s\n      maxVersion: %s\n", v, v))
	}
	for _, c := range []struct{ version, why string }{
		{"4.15.0", "no signature in the signature store"},
		{"4.15.1", "signature-1: signed by key"},
		{"4.15.2", "signature-1: it signs digest sha256:0000000000000000000000000000000000000000000000000000000000000bad"},
		{"4.15.3", "signature-1: not a readable OpenPGP message"},
		{"4.14.5", "signature-1: reading the signed document"},
	} {
		t.Run(faults[c.version], func(t *testing.T) {
			r := sh(t, dir, env, "ocm-plan -c "+isc(c.version)+" > plan.jsonl")
			want := fmt.Sprintf("release %s (%s): ", c.version, rs.Payloads[c.version+"/amd64"])
			if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, c.why) || !strings.Contains(r.stderr, "--ignore-release-signature") {
				t.Fatalf("exit %d, want 1 and %q ... %q:\n%s", r.code, want, c.why, r.stderr)
			}
			if out := sh(t, dir, nil, "cat plan.jsonl").stdout; out != "" {
				t.Fatalf("a release without a valid signature was planned:\n%s", out)
			}
		})
	}
	t.Run("opt-out", func(t *testing.T) {
		r := sh(t, dir, env, "ocm-plan --ignore-release-signature -c "+isc("4.15.1")+" > plan.jsonl")
		if r.code != 0 || !strings.Contains(r.stderr, "release 4.15.1 ("+rs.Payloads["4.15.1/amd64"]+"): signature NOT verified") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		for _, rec := range records(t, sh(t, dir, nil, "cat plan.jsonl").stdout) {
			if len(rec.Signatures) != 0 {
				t.Fatalf("%s has signatures with --ignore-release-signature: %v", rec.Source, rec.Signatures)
			}
		}
	})
	t.Run("default keys", func(t *testing.T) {
		// Without OCP_SIGNATURE_VERIFICATION_PK, the Red Hat keys decide:
		// the fixture's test key is not one of them.
		t.Setenv("OCP_SIGNATURE_VERIFICATION_PK", "")
		r := sh(t, dir, env, "ocm-plan -c "+isc("4.14.4")+" > plan.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "which is not in the Red Hat release keys built into ocm") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("valid", func(t *testing.T) {
		r := sh(t, dir, env, "ocm-plan -c "+isc("4.14.4")+" > plan.jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		n := 0
		for _, rec := range records(t, sh(t, dir, nil, "cat plan.jsonl").stdout) {
			if rec.Origin == "release" {
				n++
				if len(rec.Signatures) != 1 || rec.Signatures[0].Size != int64(len(rs.Signatures[rec.Digest][0])) {
					t.Fatalf("payload record signatures %v", rec.Signatures)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d payload records", n)
		}
	})
}

// TestReleaseSignaturesAcrossTheGap: mirror to disk carries the payloads'
// signatures in the archives; with the source registry and the signature
// store stopped, disk to mirror writes the signature ConfigMap, and each
// signature in it verifies with the test key (checked here with the OpenPGP
// library directly) and signs a payload that is in the mirror. A signature
// damaged in the archive fails its payload at unpack.
func TestReleaseSignaturesAcrossTheGap(t *testing.T) {
	src, rs, srv := releaseEnvServer(t, fixture.ReleaseOptions{Components: 3})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    architectures: [amd64, multi]\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.2\n      maxVersion: 4.15.3\n")
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + srv.URL}, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl")
	if r.code != 0 {
		t.Fatalf("mirror to disk: exit %d", r.code)
	}
	// The table of contents lists every signature blob.
	var toc struct {
		Archives []struct {
			Blobs []struct {
				Digest string `json:"digest"`
				Size   int64  `json:"size"`
			} `json:"blobs"`
		} `json:"archives"`
	}
	if err := json.Unmarshal([]byte(sh(t, dir, nil, "tar -xOf archives/mirror_000001.tar ocm/toc.json").stdout), &toc); err != nil || len(toc.Archives) != 1 {
		t.Fatalf("table of contents: %v, %d archives", err, len(toc.Archives))
	}
	listed := map[string]int64{}
	for _, b := range toc.Archives[0].Blobs {
		listed[b.Digest] = b.Size
	}
	sigDigests := map[string]string{} // signature digest -> payload digest
	for _, rec := range records(t, sh(t, dir, nil, "cat packed.jsonl").stdout) {
		for _, s := range rec.Signatures {
			sigDigests[s.Digest] = rec.Digest
			if listed[s.Digest] != s.Size {
				t.Errorf("signature %s of %s is not in the table of contents", s.Digest, rec.Release)
			}
		}
	}
	if len(sigDigests) != 4 {
		t.Fatalf("%d signatures in the packed records, want 4 (2 releases x 2 payloads)", len(sigDigests))
	}

	// Across the gap: no source registry, no signature store.
	dst := testenv.Start(t, testenv.RegistryOptions{})
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s | ocm-resources --cache far --out res > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("disk to mirror: exit %d", r.code)
	}
	inMirror := map[string]bool{}
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if rec.Origin == record.OriginRelease {
			if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
				t.Fatalf("%s: %s, want %s", rec.Target, got, rec.Digest)
			}
			inMirror[rec.Digest] = true
		}
	}

	var cm corev1.ConfigMap
	y := sh(t, dir, nil, "cat res/signature-configmap.yaml").stdout
	t.Logf("signature-configmap.yaml:\n%s", y)
	if err := yaml.UnmarshalStrict([]byte(y), &cm); err != nil {
		t.Fatalf("signature-configmap.yaml: %v", err)
	}
	if _, ok := cm.Labels["release.openshift.io/verification-signatures"]; !ok || cm.Namespace != "openshift-config-managed" || cm.Kind != "ConfigMap" {
		t.Fatalf("ConfigMap %s/%s %s labels %v", cm.Namespace, cm.Name, cm.Kind, cm.Labels)
	}
	pub, err := rs.Signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]bool{}
	for key, sig := range cm.BinaryData {
		hex, n, ok := strings.Cut(strings.TrimPrefix(key, "sha256-"), "-")
		if !ok || len(hex) != 64 || n != "1" {
			t.Fatalf("binaryData key %q is not sha256-<hex>-1", key)
		}
		digest := "sha256:" + hex
		md, err := openpgp.ReadMessage(bytes.NewReader(sig), keyring, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		body, err := io.ReadAll(md.UnverifiedBody)
		if err != nil || md.SignatureError != nil || md.SignedBy == nil {
			t.Fatalf("%s: does not verify with the test key: %v %v", key, err, md.SignatureError)
		}
		var claim struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
				Type string `json:"type"`
			} `json:"critical"`
		}
		if err := json.Unmarshal(body, &claim); err != nil || claim.Critical.Image.Digest != digest || claim.Critical.Type != "atomic container signature" {
			t.Fatalf("%s: claim %s (%v)", key, body, err)
		}
		if !inMirror[digest] {
			t.Fatalf("%s signs %s, which is not a payload pushed to the mirror", key, digest)
		}
		verified[digest] = true
	}
	if len(verified) != len(inMirror) || len(verified) != 4 {
		t.Fatalf("%d payloads with a verified signature in the ConfigMap, %d pushed, want 4", len(verified), len(inMirror))
	}
	var fromJSON corev1.ConfigMap
	dec := json.NewDecoder(strings.NewReader(sh(t, dir, nil, "cat res/signature-configmap.json").stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fromJSON); err != nil || len(fromJSON.BinaryData) != len(cm.BinaryData) {
		t.Fatalf("signature-configmap.json: %v, %d keys", err, len(fromJSON.BinaryData))
	}

	// A signature changed in the archive is refused at unpack: its
	// payload fails, naming the blob.
	if r := sh(t, dir, nil, "cp -r archives bad && sed -i 's/atomic container signature/Atomic container signature/g' bad/mirror_*.tar"); r.code != 0 {
		t.Fatal("damaging the archive")
	}
	r = sh(t, dir, nil, "ocm-unpack bad --cache far2 > unpacked.jsonl")
	if r.code == 0 {
		t.Fatalf("unpack of damaged signatures: exit 0")
	}
	failed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat unpacked.jsonl").stdout) {
		if rec.Origin == record.OriginRelease {
			if rec.Status != record.StatusFailed || !strings.Contains(rec.Error, rec.Signatures[0].Digest) {
				t.Errorf("payload %s with a damaged signature: %s %q", rec.Release, rec.Status, rec.Error)
			}
			failed++
		}
	}
	if failed != 4 {
		t.Fatalf("%d payload records failed, want 4", failed)
	}
}

// TestForgedReleaseSignature: a signature store serves, for one payload, a
// message made with no private key (a one-pass-signature packet naming the
// trusted key and 70,000 spaces after the claim, no signature packet).
// ocm-plan exits 1 naming the release and writes no record of it, with the
// test key and with the built-in Red Hat keys alike; a genuinely signed
// payload of the same store still plans.
func TestForgedReleaseSignature(t *testing.T) {
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	const redHatBeta2 = 0x938A80CAF21541EB // a built-in key
	dir := t.TempDir()
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL}
	isc := func(v string) string {
		return writeFile(t, filepath.Join(dir, v+".yaml"), head+fmt.Sprintf("mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: %s\n      maxVersion: %s\n", v, v))
	}
	forge := func(v string, keyID uint64) {
		d := rs.Payloads[v+"/amd64"]
		claim := fixture.ForgedClaim(rs.Host+"/"+fixture.PayloadRepo+":"+v+"-x86_64", d)
		rs.Signatures[d] = [][]byte{fixture.ForgedSignature(keyID, claim, 70000)}
	}
	forge("4.15.3", rs.Signer.KeyID())
	forge("4.15.1", redHatBeta2)
	for _, c := range []struct {
		name, version, keys string // keys: OCP_SIGNATURE_VERIFICATION_PK ("" the built-in keys; "test" the fixture's)
		ok                  bool
	}{
		{"forged with the trusted test key's ID", "4.15.3", "test", false},
		{"forged with a Red Hat key's ID", "4.15.1", "", false},
		{"genuine", "4.15.2", "test", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.keys == "" {
				t.Setenv("OCP_SIGNATURE_VERIFICATION_PK", "")
			}
			r := sh(t, dir, env, "ocm-plan -c "+isc(c.version)+" > plan.jsonl")
			recs := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)
			if c.ok {
				if r.code != 0 || len(recs) == 0 || recs[0].Digest != rs.Payloads[c.version+"/amd64"] || len(recs[0].Signatures) != 1 {
					t.Fatalf("a genuinely signed payload: exit %d, %d records", r.code, len(recs))
				}
				return
			}
			want := fmt.Sprintf("release %s (%s): invalid release signature: signature-1: the signed document is over 64 KiB", c.version, rs.Payloads[c.version+"/amd64"])
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Fatalf("exit %d, want 1 and %q", r.code, want)
			}
			if len(recs) != 0 {
				t.Fatalf("the forged payload was planned: %d records, the first %s", len(recs), recs[0].Source)
			}
		})
	}
}

// TestCarriedSignaturesVerifiedAtResources: a signature that entered the
// cache by another path than the plan that verified it (written there
// directly, its record edited to name it) does not reach the ConfigMap
// when a keyring is given: ocm-resources fails that payload (exit 1, naming
// the release, the signature and the fix) and writes none of its
// signatures. The plan's own signatures pass; --verify-release-signatures
// verifies with the built-in keys when no keyring is set.
func TestCarriedSignaturesVerifiedAtResources(t *testing.T) {
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.3\n      maxVersion: 4.15.3\n")
	if r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-push --cache cache docker://%s > pushed.jsonl", dst.Host)); r.code != 0 {
		t.Fatalf("plan, fetch and push: exit %d", r.code)
	}
	pushed := sh(t, dir, nil, "cat pushed.jsonl").stdout
	payload := rs.Payloads["4.15.3/amd64"]
	other, err := fixture.NewSigner("not the release key")
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := other.Sign(rs.Host+"/"+fixture.PayloadRepo+":4.15.3-x86_64", payload)
	if err != nil {
		t.Fatal(err)
	}
	forgedSig := fixture.ForgedSignature(rs.Signer.KeyID(), fixture.ForgedClaim(rs.Host+"/"+fixture.PayloadRepo+":4.15.3-x86_64", payload), 70000)
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	// swap writes sig into the cache and a copy of the pushed records whose
	// payload record names it instead of the plan's signature.
	swap := func(file string, sig []byte) string {
		d, err := c.PutBytes(t.Context(), sig)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w := record.NewWriter(&b)
		for _, rec := range records(t, pushed) {
			if rec.Origin == record.OriginRelease {
				rec.Signatures = []record.Blob{{Digest: d, Size: int64(len(sig))}}
			}
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(dir, file), b.String())
		return d
	}
	otherDigest, forgedDigest := swap("other-key.jsonl", otherSig), swap("forged.jsonl", forgedSig)
	cmKey := "sha256-" + strings.TrimPrefix(payload, "sha256:") + "-1: "
	for _, tc := range []struct {
		name, input, env, flags string
		code                    int
		want                    string // in stderr and the payload record's error; "" written
	}{
		{"the plan's signature", "pushed.jsonl", "", "", 0, ""},
		{"another key's, keyring set", "other-key.jsonl", "", "", 1, "release 4.15.3 (" + payload + "): signature " + otherDigest + ": invalid release signature: signed by key " + fmt.Sprintf("%016X", other.KeyID())},
		{"forged, keyring set", "forged.jsonl", "", "", 1, "release 4.15.3 (" + payload + "): signature " + forgedDigest + ": invalid release signature: the signed document is over 64 KiB"},
		{"forged, built-in keys", "forged.jsonl", "OCP_SIGNATURE_VERIFICATION_PK=", "--verify-release-signatures", 1, "signature " + forgedDigest + ": invalid release signature: the signed document is over 64 KiB"},
		{"the plan's signature, built-in keys", "pushed.jsonl", "OCP_SIGNATURE_VERIFICATION_PK=", "--verify-release-signatures", 1, "which is not in the Red Hat release keys built into ocm"},
		{"keyring file missing", "pushed.jsonl", "OCP_SIGNATURE_VERIFICATION_PK=" + filepath.Join(dir, "absent.asc"), "", 2, "OCP_SIGNATURE_VERIFICATION_PK=" + filepath.Join(dir, "absent.asc")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			r := sh(t, dir, env, fmt.Sprintf("rm -rf res && ocm-resources --cache cache --out res %s < %s > out.jsonl", tc.flags, tc.input))
			cm := sh(t, dir, nil, "cat res/signature-configmap.yaml 2>/dev/null").stdout
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q", r.code, tc.code, tc.want)
			}
			if tc.want == "" {
				if !strings.Contains(cm, cmKey) {
					t.Fatalf("the payload's signature is not in the ConfigMap:\n%s", cm)
				}
				return
			}
			if strings.Contains(cm, cmKey) {
				t.Fatalf("a refused signature reached the ConfigMap:\n%s", cm)
			}
			if tc.code == 2 {
				return
			}
			if !strings.Contains(r.stderr, "; fix: ") {
				t.Errorf("no fix in %q", r.stderr)
			}
			for _, rec := range records(t, sh(t, dir, nil, "cat out.jsonl").stdout) {
				if rec.Origin == record.OriginRelease && (rec.Status != record.StatusFailed || rec.Stage != "resources" || !strings.Contains(rec.Error, tc.want)) {
					t.Errorf("payload record: %s at %s %q", rec.Status, rec.Stage, rec.Error)
				}
			}
		})
	}
}
