package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/fixture"
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
