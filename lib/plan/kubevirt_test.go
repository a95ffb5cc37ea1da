package plan

import (
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/release"
)

func TestKubeVirtComponents(t *testing.T) {
	x86 := "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + strings.Repeat("1", 64)
	s390 := "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + strings.Repeat("2", 64)
	both := map[string]string{"x86_64": x86, "s390x": s390}
	for _, c := range []struct {
		parch string
		kv    map[string]string
		want  string // name=image,...
		err   string
	}{
		{"x86_64", both, "kube-virt-container=" + x86, ""},
		{"s390x", both, "kube-virt-container=" + s390, ""},
		{"multi", both, "kube-virt-container-s390x=" + s390 + ",kube-virt-container-x86_64=" + x86, ""},
		{"multi", map[string]string{"x86_64": x86}, "kube-virt-container=" + x86, ""},
		{"aarch64", both, "", "names no KubeVirt container image for aarch64"},
		{"x86_64", nil, "", "names no KubeVirt container image for x86_64"},
	} {
		got, err := kubeVirtComponents(&release.Payload{KubeVirt: c.kv}, c.parch)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.parch, err, c.err)
			}
			continue
		}
		var s []string
		for _, comp := range got {
			s = append(s, comp.Name+"="+comp.Image)
		}
		if err != nil || strings.Join(s, ",") != c.want {
			t.Errorf("%s %v: %v %v, want %s", c.parch, c.kv, s, err, c.want)
		}
	}
}
