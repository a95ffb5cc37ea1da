package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestOcMirrorFields: fields oc-mirror 4.18-4.20 accepts are read, and
// those ocm does not apply as oc-mirror does are warned with file:line
// (additionalImages', operators' and platform's platforms are applied:
// sparse copies).
func TestOcMirrorFields(t *testing.T) {
	src := head + `mirror:
  platform:
    platforms:
    - os: linux
      architecture: arm64
    channels:
    - name: stable-4.18
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18
    skipDependencies: true
    platforms:
    - {os: linux, architecture: amd64}
    packages:
    - name: elasticsearch-operator
      defaultChannel: stable-v0
      minVersion: 5.6.0
      channels:
      - name: stable-v0
  additionalImages:
  - name: quay.io/example/my-image:v1.0
    targetRepo: custom-namespace/my-image
    targetTag: custom-tag
    platforms:
    - {os: linux, architecture: arm64}
  - name: quay.io/coreos/etcd:v3.5.4@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  blockedImages:
  - name: ".*blocked-image.*"
  - name: registry.example.com/unwanted/.*
  - name: docker.io/library/alpine
  samples:
  - name: ruby
`
	c, err := Parse("isc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	if !reflect.DeepEqual(s.Platform.Platforms, []string{"linux/arm64"}) || !reflect.DeepEqual(s.Platform.Architectures, []string{"multi"}) {
		t.Errorf("platform: %+v", s.Platform)
	}
	op := s.Operators[0]
	if !op.SkipDependencies || !reflect.DeepEqual(op.Platforms, []string{"linux/amd64"}) {
		t.Errorf("operator: %+v", op)
	}
	if pk := op.Packages[0]; pk.DefaultChannel != "stable-v0" || pk.MinVersion != "5.6.0" || len(pk.Channels) != 1 {
		t.Errorf("package: %+v", pk)
	}
	if a := s.AdditionalImages[0]; a.TargetRepo != "custom-namespace/my-image" || a.TargetTag != "custom-tag" || !reflect.DeepEqual(a.Platforms, []string{"linux/arm64"}) {
		t.Errorf("additional: %+v", a)
	}
	var patterns []bool
	for _, b := range s.BlockedImages {
		patterns = append(patterns, b.Pattern)
	}
	if !reflect.DeepEqual(patterns, []bool{true, true, false}) {
		t.Errorf("blocked patterns %v, want regexes for the first two, the plain name exact", patterns)
	}
	want := []string{
		"isc.yaml:33: mirror.samples: ignored",
	}
	all := strings.Join(c.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
	if len(c.Warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(c.Warnings), len(want), all)
	}
}
