package resources

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/record"
)

func payloadRecord(n int, sigs ...[]byte) *record.Record {
	r := &record.Record{V: 1, Origin: record.OriginRelease, Source: fmt.Sprintf("quay.io/openshift-release-dev/ocp-release@sha256:%064x", n),
		Digest: fmt.Sprintf("sha256:%064x", n), Release: fmt.Sprintf("4.15.%d", n), Status: record.StatusPushed,
		Target: fmt.Sprintf("mirror.example.com/openshift/release-images:4.15.%d-x86_64", n), Destination: "openshift/release-images:4.15.x"}
	for _, s := range sigs {
		r.Signatures = append(r.Signatures, record.Blob{Digest: fmt.Sprintf("sha256:%064x", len(s)), Size: int64(len(s))})
	}
	return r
}

// TestSignatureConfigMapIsACoreV1ConfigMap: both files decode strictly into
// core/v1 ConfigMap, in openshift-config-managed with the label the
// cluster-version operator selects on, one binaryData key per signature
// (sha256-<hex>-<n>, n from 1 per payload) holding the signature's bytes.
func TestSignatureConfigMapIsACoreV1ConfigMap(t *testing.T) {
	a1, a2, b1 := []byte("sig a1\x00\xff"), []byte("sig a2"), []byte("sig b1")
	failed := payloadRecord(3, []byte("x"))
	failed.Status, failed.Error = record.StatusFailed, "push failed"
	recs := []*record.Record{payloadRecord(1, a1, a2), payloadRecord(2, b1), failed,
		{V: 1, Origin: record.OriginReleaseComponent, Source: "quay.io/x/y@sha256:" + strings.Repeat("c", 64), Digest: "sha256:" + strings.Repeat("c", 64), Status: record.StatusPushed, Target: "mirror.example.com/openshift/release:4.15.1-etcd"}}
	sigs := map[string][][]byte{recs[0].Digest: {a1, a2}, recs[1].Digest: {b1}, failed.Digest: {[]byte("x")}}
	files, err := Generate(recs, Options{Signatures: sigs})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	var fromYAML, fromJSON corev1.ConfigMap
	if err := yaml.UnmarshalStrict(byName[SignatureFileYAML], &fromYAML); err != nil {
		t.Fatalf("%s: %v\n%s", SignatureFileYAML, err, byName[SignatureFileYAML])
	}
	dec := json.NewDecoder(bytes.NewReader(byName[SignatureFileJSON]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fromJSON); err != nil {
		t.Fatalf("%s: %v", SignatureFileJSON, err)
	}
	want := map[string][]byte{
		"sha256-" + fmt.Sprintf("%064x", 1) + "-1": a1,
		"sha256-" + fmt.Sprintf("%064x", 1) + "-2": a2,
		"sha256-" + fmt.Sprintf("%064x", 2) + "-1": b1,
	}
	for name, cm := range map[string]corev1.ConfigMap{SignatureFileYAML: fromYAML, SignatureFileJSON: fromJSON} {
		if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "mirrored-release-signatures" || cm.Namespace != "openshift-config-managed" {
			t.Errorf("%s: %s %s %s/%s", name, cm.APIVersion, cm.Kind, cm.Namespace, cm.Name)
		}
		if v, ok := cm.Labels["release.openshift.io/verification-signatures"]; !ok || v != "" {
			t.Errorf("%s: labels %v", name, cm.Labels)
		}
		if len(cm.BinaryData) != len(want) || len(cm.Data) != 0 {
			t.Errorf("%s: %d binaryData keys, want %d (failed payloads left out)", name, len(cm.BinaryData), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(cm.BinaryData[k], v) {
				t.Errorf("%s: %s = %q, want %q", name, k, cm.BinaryData[k], v)
			}
		}
	}
}

// TestSignatureConfigMapsSplit: more signatures than fit one ConfigMap go
// to several, each under the API object limit, none lost.
func TestSignatureConfigMapsSplit(t *testing.T) {
	var recs []*record.Record
	sigs := map[string][][]byte{}
	for i := 1; i <= 400; i++ {
		s := bytes.Repeat([]byte{byte(i)}, 4000)
		r := payloadRecord(i, s)
		recs = append(recs, r)
		sigs[r.Digest] = [][]byte{s}
	}
	files, err := Generate(recs, Options{Signatures: sigs})
	if err != nil {
		t.Fatal(err)
	}
	var y []byte
	for _, f := range files {
		if f.Name == SignatureFileYAML {
			y = f.Data
		}
	}
	keys := 0
	docs := bytes.Split(y, []byte("---\n"))
	if len(docs) < 2 {
		t.Fatalf("%d ConfigMaps for 1.6 MB of signatures", len(docs))
	}
	for i, d := range docs {
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict(d, &cm); err != nil {
			t.Fatal(err)
		}
		if len(d) > 1<<20-64<<10 {
			t.Errorf("ConfigMap %d is %d bytes", i, len(d))
		}
		if want := "mirrored-release-signatures"; i > 0 {
			want = fmt.Sprintf("%s-%d", want, i+1)
			if cm.Name != want {
				t.Errorf("name %s, want %s", cm.Name, want)
			}
		}
		keys += len(cm.BinaryData)
	}
	if keys != 400 {
		t.Fatalf("%d signatures in the ConfigMaps, want 400", keys)
	}
}
