package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// --secure-policy with a signedBy (GPG) requirement: the plan reads simple
// signatures (made by skopeo standalone-sign) from --signature-lookaside and
// refuses exactly the unsigned image and the one signed by another key; the
// rest is mirrored.
func TestSecurePolicySignedBy(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	// The trusted key and its signatures come from gpg and skopeo
	// standalone-sign, as containers/image's tooling makes them; the key is
	// exported in binary form (gpg --export).
	gnupg := []string{"GNUPGHOME=" + filepath.Join(dir, "gnupg")}
	if r := sh(t, dir, gnupg, "mkdir -m 700 gnupg && gpg --batch --passphrase '' --quick-gen-key 'ocm e2e <e2e@example.invalid>' ed25519 sign never && gpg --export > trusted.gpg"); r.code != 0 {
		t.Fatalf("making the GPG test key: exit %d", r.code)
	}
	defer sh(t, dir, gnupg, "gpgconf --kill gpg-agent")
	fpr := strings.TrimSpace(sh(t, dir, gnupg, "gpg --list-keys --with-colons | awk -F: '/^fpr/{print $10; exit}'").stdout)
	other, err := fixture.NewSigner("ocm e2e other")
	if err != nil {
		t.Fatal(err)
	}
	var store fixture.Lookaside
	minimal, _ := set.ByRepo("ubi9/ubi-minimal")
	legacy, _ := set.ByRepo("docker/legacy")
	for _, img := range set.Images {
		ref := src.Host + "/" + img.Repo + "@" + img.Digest
		if img.Tag != "" {
			ref = src.Host + "/" + img.Repo + ":" + img.Tag
		}
		var sig []byte
		switch img.Repo {
		case minimal.Repo:
			continue // unsigned
		case legacy.Repo:
			if sig, err = other.Sign(ref, img.Digest); err != nil {
				t.Fatal(err)
			}
		default:
			r := sh(t, dir, gnupg, fmt.Sprintf("skopeo inspect --raw --tls-verify=false docker://%s/%s@%s > m.json && skopeo standalone-sign m.json %s %s -o sig && base64 -w0 sig", src.Host, img.Repo, img.Digest, ref, fpr))
			if r.code != 0 {
				t.Fatalf("skopeo standalone-sign %s: exit %d", ref, r.code)
			}
			if sig, err = base64.StdEncoding.DecodeString(r.stdout); err != nil {
				t.Fatal(err)
			}
		}
		store.Add(img.Repo, img.Digest, sig)
	}
	srv := httptest.NewServer(&store)
	defer srv.Close()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	writeFile(t, filepath.Join(dir, "policy.json"), fmt.Sprintf(`{
  "default": [{"type": "reject"}],
  "transports": {"docker": {
    "%s": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "%s/trusted.gpg"}]
  }}
}`, src.Host, dir))

	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy policy.json --signature-lookaside %s -c %s | ocm-push docker://%s/sb > pushed.jsonl", srv.URL, isc, dst.Host))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (some images refused)", r.code)
	}
	refused := map[string]string{
		minimal.Repo: "requirement signedBy): " + src.Host + "/" + minimal.Repo + "@" + minimal.Digest + " has no signature found (" + srv.URL + "/" + minimal.Repo + "@sha256=",
		legacy.Repo:  "requirement signedBy): " + src.Host + "/" + legacy.Repo + "@" + legacy.Digest + " has no valid signature by the policy's keys: signature-1: signed by key",
	}
	checkPolicyOutcome(t, dir, src.Host, dst.Host, "sb", refused)

	// Without a lookaside store, every signedBy image fails alone, naming the fix.
	r = sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy policy.json -c %s > plan.jsonl", isc))
	if r.code != 1 {
		t.Errorf("no lookaside: exit %d, want 1", r.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat plan.jsonl").stdout) {
		if rec.Status != record.StatusSkipped && (rec.Status != record.StatusFailed || !strings.Contains(rec.Error, "has no signature found: no lookaside store is set (fix: give --signature-lookaside URL")) {
			t.Errorf("no lookaside: %s: %s %q", rec.Source, rec.Status, rec.Error)
		}
	}
	// The flag alone is a usage error.
	if r = sh(t, dir, nil, fmt.Sprintf("ocm-plan --signature-lookaside %s -c %s", srv.URL, isc)); r.code != 2 || !strings.Contains(r.stderr, "--signature-lookaside is only read with --secure-policy") {
		t.Errorf("--signature-lookaside without --secure-policy: exit %d, want 2", r.code)
	}
}

// checkPolicyOutcome reads pushed.jsonl in dir after ocm-plan --secure-policy
// | ocm-push into dst under prefix: each image of refused (repository ->
// text its error must hold) failed at plan and is absent from the mirror
// (skopeo says so); every other image was pushed and skopeo finds its
// digest there.
func checkPolicyOutcome(t *testing.T, dir, srcHost, dstHost, prefix string, refused map[string]string) {
	t.Helper()
	pushed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status == record.StatusSkipped {
			continue
		}
		repo := strings.TrimPrefix(mustRef(t, rec.Source).Context().Name(), srcHost+"/")
		at := "docker://" + dstHost + "/" + prefix + "/" + repo + "@" + rec.Digest
		if want, ok := refused[repo]; ok {
			if rec.Status != record.StatusFailed || rec.Stage != "plan" || !strings.Contains(rec.Error, "refused by --secure-policy") || !strings.Contains(rec.Error, want) {
				t.Errorf("%s: %s at %s: %q; want refused at plan with %q", rec.Source, rec.Status, rec.Stage, rec.Error, want)
			}
			if _, err := testenv.SkopeoDigest(t.Context(), at, "--tls-verify=false"); err == nil {
				t.Errorf("refused %s reached the mirror", rec.Source)
			}
			delete(refused, repo)
			continue
		}
		if rec.Status != record.StatusPushed {
			t.Errorf("%s: %s %s; want pushed", rec.Source, rec.Status, rec.Error)
			continue
		}
		// skopeo, not ocm, says the accepted image is at the mirror.
		if d := skopeoDigest(t, at, "--tls-verify=false"); d != rec.Digest {
			t.Errorf("%s: mirror has %s", rec.Source, d)
		}
		pushed++
	}
	if len(refused) > 0 {
		t.Errorf("not refused: %v", refused)
	}
	if pushed == 0 {
		t.Error("no image was accepted")
	}
}
