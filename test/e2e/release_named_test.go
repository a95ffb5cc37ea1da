package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestNamedRelease: mirror.platform.release names one payload, by tag
// (single-arch) or by digest (the multi-arch index), with no channel and no
// update graph: it is mirrored with its components, its signature is
// verified and lands in the ConfigMap. A named release without a valid
// signature stops the plan like a channel's release.
func TestNamedRelease(t *testing.T) {
	src, rs, _ := releaseEnv(t, fixture.ReleaseOptions{Components: 3, SignatureFaults: map[string]string{"4.15.2": fixture.SigOtherKey}})
	dir := t.TempDir()
	// No UPDATE_URL_OVERRIDE: a named release needs no update graph.
	for _, c := range []struct{ ref, version, tag string }{
		{src.Host + "/" + fixture.PayloadRepo + ":4.15.3-x86_64", "4.15.3", "4.15.3-x86_64"},
		{src.Host + "/" + fixture.PayloadRepo + "@" + rs.Payloads["4.14.5/multi"], "4.14.5", "4.14.5-multi"},
	} {
		t.Run(c.tag, func(t *testing.T) {
			dst := testenv.Start(t, testenv.RegistryOptions{}).Host
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    release: "+c.ref+"\n")
			r := sh(t, dir, nil, fmt.Sprintf("rm -rf res && ocm-plan -c isc.yaml | ocm-push docker://%s | ocm-resources --out res > pushed.jsonl", dst))
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			var payload *record.Record
			components := 0
			for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
				if rec.Status != record.StatusPushed || rec.Release != c.version {
					t.Fatalf("%s: %s %s release %q", rec.Source, rec.Status, rec.Error, rec.Release)
				}
				switch rec.Origin {
				case record.OriginRelease:
					payload = rec
				case record.OriginReleaseComponent:
					components++
				}
			}
			arch := strings.TrimPrefix(c.tag, c.version+"-")
			if arch == "x86_64" {
				arch = "amd64"
			}
			if payload == nil || payload.Destination != "openshift/release-images:"+c.tag || payload.Digest != rs.Payloads[c.version+"/"+arch] || components != 3 {
				t.Fatalf("payload %+v, %d components", payload, components)
			}
			if got := skopeoDigest(t, "docker://"+payload.Target, "--tls-verify=false"); got != payload.Digest {
				t.Fatalf("%s: %s, want %s", payload.Target, got, payload.Digest)
			}
			cm := sh(t, dir, nil, "cat res/signature-configmap.yaml").stdout
			if len(payload.Signatures) != 1 || !strings.Contains(cm, "sha256-"+strings.TrimPrefix(payload.Digest, "sha256:")+"-1: ") {
				t.Fatalf("signatures %v; ConfigMap:\n%s", payload.Signatures, cm)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    release: "+src.Host+"/"+fixture.PayloadRepo+":4.15.2-x86_64\n")
		r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "release 4.15.2 ("+rs.Payloads["4.15.2/amd64"]+"): invalid release signature: signature-1: signed by key") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
}

// TestKubeVirtContainer: kubeVirtContainer: true adds the KubeVirt
// container image named in each payload's boot images ConfigMap as a
// release component, tagged like the reference tool's.
func TestKubeVirtContainer(t *testing.T) {
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2, KubeVirt: true})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    kubeVirtContainer: true\n    architectures: [amd64, multi]\n    channels:\n    - name: stable-4.15\n")
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	got := map[string]bool{}
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if strings.HasSuffix(rec.Destination, "-kube-virt-container") {
			if rec.Origin != record.OriginReleaseComponent || rec.Digest != rs.KubeVirt {
				t.Fatalf("%+v", rec)
			}
			if d := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); d != rs.KubeVirt {
				t.Fatalf("%s: %s, want %s", rec.Target, d, rs.KubeVirt)
			}
			got[rec.Destination] = true
		}
	}
	if !got["openshift/release:4.15.3-x86_64-kube-virt-container"] || !got["openshift/release:4.15.3-multi-kube-virt-container"] || len(got) != 2 {
		t.Fatalf("KubeVirt records: %v", got)
	}
}
