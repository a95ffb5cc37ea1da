package resources

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/record"
)

// The release signature ConfigMap, named and labelled as the reference tool
// writes it; the cluster-version operator reads every ConfigMap of that
// namespace with that label, keys sha256-<hex>-<n>.
const (
	SignatureFileYAML  = "signature-configmap.yaml"
	SignatureFileJSON  = "signature-configmap.json"
	SignatureNamespace = "openshift-config-managed"
	SignatureLabel     = "release.openshift.io/verification-signatures"
	SignatureName      = "mirrored-release-signatures"
)

// maxConfigMapData keeps each ConfigMap well under the API server's 1 MiB
// object limit (binaryData is base64 in the object); more signatures than
// that go to mirrored-release-signatures-2, -3...
const maxConfigMapData = 700 << 10

type configMap struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	BinaryData map[string]string `json:"binaryData"`
}

// signatureConfigMaps builds the ConfigMap files for the pushed release
// payloads whose signatures sigs holds (payload digest -> signatures in
// record order). Nothing when no payload has signatures.
func signatureConfigMaps(recs []*record.Record, sigs map[string][][]byte) ([]File, error) {
	type entry struct {
		key  string
		data []byte
	}
	var entries []entry
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Origin != record.OriginRelease || len(r.Signatures) == 0 || seen[r.Digest] {
			continue
		}
		seen[r.Digest] = true
		got := sigs[r.Digest]
		if len(got) != len(r.Signatures) {
			return nil, fmt.Errorf("release %s (%s): %d signatures loaded, the record names %d", r.Release, r.Digest, len(got), len(r.Signatures))
		}
		prefix := strings.Replace(r.Digest, ":", "-", 1)
		for i, b := range got {
			entries = append(entries, entry{fmt.Sprintf("%s-%d", prefix, i+1), b})
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	var cms []*configMap
	size := 0
	for _, e := range entries {
		enc := base64.StdEncoding.EncodeToString(e.data)
		if len(cms) == 0 || size+len(enc) > maxConfigMapData {
			cm := &configMap{APIVersion: "v1", Kind: "ConfigMap", BinaryData: map[string]string{}}
			cm.Metadata.Name = SignatureName
			if len(cms) > 0 {
				cm.Metadata.Name = fmt.Sprintf("%s-%d", SignatureName, len(cms)+1)
			}
			cm.Metadata.Namespace = SignatureNamespace
			cm.Metadata.Labels = map[string]string{SignatureLabel: ""}
			cm.Metadata.Annotations = annotations()
			cms = append(cms, cm)
			size = 0
		}
		cms[len(cms)-1].BinaryData[e.key] = enc
		size += len(enc) + len(e.key)
	}
	var y bytes.Buffer
	for i, cm := range cms {
		b, err := yaml.Marshal(cm)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			y.WriteString("---\n")
		}
		y.Write(b)
	}
	// JSON: the ConfigMap itself, as the reference tool writes it, or a
	// v1 List when the signatures need several.
	var j []byte
	var err error
	if len(cms) == 1 {
		j, err = json.MarshalIndent(cms[0], "", "  ")
	} else {
		j, err = json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": cms}, "", "  ")
	}
	if err != nil {
		return nil, err
	}
	return []File{{SignatureFileYAML, y.Bytes()}, {SignatureFileJSON, append(j, '\n')}}, nil
}
