package config

import (
	"fmt"
	"strings"
	"testing"
)

const head = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"

func TestValid(t *testing.T) {
	src := head + `archiveSize: 4
mirror:
  platform:
    architectures: [amd64, multi]
    graph: true
    channels:
    - name: stable-4.14
      minVersion: 4.14.1
      shortestPath: true
    - name: stable-4.15
      maxVersion: '4.15.3'
      type: okd
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15
    targetCatalog: my-ns/my-catalog
    targetTag: v1
    packages:
    - name: elasticsearch-operator
      minVersion: '5.2.3-31'
    - name: aqua
      channels:
      - name: fast
        maxVersion: 1.3.0
    - name: 3scale-operator
      bundles:
      - name: 3scale-operator.v0.10.0-mas
  - catalog: oci:///tmp/catalog
    full: true
  additionalImages:
  - name: registry.redhat.io/ubi8/ubi:latest
  - name: quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  blockedImages:
  - name: docker.io/library/alpine
  - quay.io/x/y:1
`
	c, err := Parse("isc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	switch {
	case c.Kind != KindImageSet || c.ArchiveSize != 4:
		t.Fatalf("kind/archiveSize: %+v", c)
	case len(s.Platform.Architectures) != 2 || !s.Platform.Graph || len(s.Platform.Channels) != 2:
		t.Fatalf("platform: %+v", s.Platform)
	case s.Platform.Channels[0].MinVersion != "4.14.1" || !s.Platform.Channels[0].ShortestPath || s.Platform.Channels[0].Type != "ocp" || s.Platform.Channels[0].Line != 9:
		t.Fatalf("channel 0: %+v", s.Platform.Channels[0])
	case s.Platform.Channels[1].Type != "okd" || s.Platform.Channels[1].MaxVersion != "4.15.3":
		t.Fatalf("channel 1: %+v", s.Platform.Channels[1])
	case len(s.Operators) != 2 || s.Operators[0].TargetCatalog != "my-ns/my-catalog" || s.Operators[0].TargetTag != "v1" || !s.Operators[1].Full:
		t.Fatalf("operators: %+v", s.Operators)
	case s.Operators[0].Packages[0].MinVersion != "5.2.3-31" || s.Operators[0].Packages[1].Channels[0].MaxVersion != "1.3.0" || s.Operators[0].Packages[2].Bundles[0].Name != "3scale-operator.v0.10.0-mas":
		t.Fatalf("packages: %+v", s.Operators[0].Packages)
	case len(s.AdditionalImages) != 2 || s.AdditionalImages[0].Line != 32:
		t.Fatalf("additional: %+v", s.AdditionalImages)
	case len(s.BlockedImages) != 2 || s.BlockedImages[1].Name != "quay.io/x/y:1":
		t.Fatalf("blocked: %+v", s.BlockedImages)
	}

	d, err := Parse("delete.yaml", []byte(`kind: DeleteImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
delete:
  platform:
    channels:
    - name: stable-4.15
      minVersion: 4.15.0
      maxVersion: 4.15.1
  additionalImages:
  - name: registry.redhat.io/ubi8/ubi:latest
`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindDelete || d.Spec.Platform.Architectures[0] != "amd64" || len(d.Spec.AdditionalImages) != 1 {
		t.Fatalf("delete: %+v", d)
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", "", 0, "the file is empty"},
		{"malformed", "kind: ImageSetConfiguration\n  apiVersion: x\n: [\n", 2, "malformed YAML"},
		{"two documents", head + "mirror: {}\n---\nkind: x\n", 4, "more than one YAML document"},
		{"no kind", "apiVersion: mirror.openshift.io/v2alpha1\nmirror: {}\n", 1, "kind: missing"},
		{"wrong kind", "kind: Pod\napiVersion: mirror.openshift.io/v2alpha1\n", 1, `unknown kind "Pod"`},
		{"v1 apiVersion", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v1alpha2\nmirror: {}\n", 2, "oc-mirror v1"},
		{"unknown top field", head + "mirorr: {}\n", 3, `unknown field "mirorr"; fix: did you mean "mirror"?`},
		{"delete in mirror config", head + "delete: {}\nmirror: {}\n", 3, `unknown field "delete" for kind ImageSetConfiguration`},
		{"blocked in delete", "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n  blockedImages: []\n", 4, `delete.blockedImages: unknown field`},
		{"archiveSize word", head + "archiveSize: big\nmirror: {}\n", 3, "archiveSize: \"big\" is not a positive number"},
		{"archiveSize negative", head + "archiveSize: -2\nmirror: {}\n", 3, "is not a positive number"},
		{"typo nested", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      minVerison: 1.0.0\n", 8, `mirror.operators[0].packages[0].minVerison: unknown field "minVerison"; fix: did you mean "minVersion"?`},
		{"string for list", head + "mirror:\n  additionalImages: quay.io/a/b:1\n", 4, "mirror.additionalImages: must be a list"},
		{"full as string", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    full: \"yes\"\n", 6, "mirror.operators[0].full: must be true or false"},
		{"bad reference", head + "mirror:\n  additionalImages:\n  - name: Quay.io/UPPER:x\n", 5, `mirror.additionalImages[0].name: bad image reference "Quay.io/UPPER:x"`},
		{"bad digest", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b@sha256:abc\n", 5, "bad image reference"},
		{"empty name", head + "mirror:\n  additionalImages:\n  - name: \"\"\n", 5, "empty image name"},
		{"bad semver", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      minVersion: abc\n", 8, `minVersion: "abc" is not a semantic version`},
		{"min above max", head + "mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.3\n      maxVersion: 4.15.1\n", 8, "minVersion 4.15.3 is above maxVersion 4.15.1"},
		{"bad arch", head + "mirror:\n  platform:\n    architectures: [x86_64]\n    channels: [{name: stable-4.15}]\n", 5, `unknown architecture "x86_64"`},
		{"bad type", head + "mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      type: rhel\n", 7, `unknown platform type "rhel"`},
		{"platform full with min", head + "mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      full: true\n      minVersion: 4.15.1\n", 6, "cannot be combined with minVersion/maxVersion"},
		{"duplicate package", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n    - name: p\n", 8, "package p listed twice"},
		// oc-mirror 4.18+ (validate.go) refuses only ranges on both levels.
		{"scenario 15", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      minVersion: 1.0.0\n      channels:\n      - name: c\n        maxVersion: 2.0.0\n", 10, "package-level minVersion/maxVersion cannot be combined with channel minVersion/maxVersion"},
		{"bad regexp blocked", head + "mirror:\n  blockedImages:\n  - name: \"quay.io/(unclosed\"\n", 5, "is neither an image reference nor a regular expression"},
		{"platforms and architectures", head + "mirror:\n  platform:\n    architectures: [amd64]\n    platforms: [{os: linux, architecture: amd64}]\n", 6, "cannot be used together"},
		{"platform without os", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    platforms: [{architecture: amd64}]\n", 6, "platforms[0].os: missing"},
		{"bad targetRepo", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    targetRepo: Quay.io/X:1\n", 6, "is not a repository path"},
		{"empty defaultChannel", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      defaultChannel: \"\"\n", 8, "defaultChannel: empty channel name"},
		{"scenario 16", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    full: true\n    packages:\n    - name: p\n      maxVersion: 1.0.0\n", 8, "full: true cannot be combined with minVersion/maxVersion"},
		{"scenario 17", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    full: true\n    packages:\n    - name: p\n      channels:\n      - name: c\n        minVersion: 1.0.0\n", 10, "full: true cannot be combined with channel minVersion/maxVersion"},
		{"channels and bundles", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      channels:\n      - name: c\n      bundles:\n      - name: b\n", 11, "channels and bundles cannot be combined"},
		{"bad targetCatalog", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    targetCatalog: quay.io/X:1\n", 6, "is not a repository path"},
		{"bad targetTag", head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    targetTag: \"-x\"\n", 6, "is not a valid tag"},
		{"release and channels", head + "mirror:\n  platform:\n    release: quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64\n    channels: [{name: stable-4.15}]\n", 5, "mirror.platform.release: release names one release payload; it cannot be combined with channels"},
		{"release and architectures", head + "mirror:\n  platform:\n    release: quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64\n    architectures: [arm64]\n", 6, "mirror.platform.architectures: architectures does not apply to release"},
		{"kubeVirtContainer as string", head + "mirror:\n  platform:\n    kubeVirtContainer: \"yes\"\n    channels: [{name: stable-4.15}]\n", 5, "mirror.platform.kubeVirtContainer: must be true or false"},
		{"bad release", head + "mirror:\n  platform:\n    release: 4.15.3\n", 5, `mirror.platform.release: bad image reference "4.15.3"`},
		{"helm url", head + "mirror:\n  helm:\n    repositories:\n    - name: r\n      url: charts.example.com\n", 7, "is not an http(s) URL"},
		{"helm local without path", head + "mirror:\n  helm:\n    local:\n    - name: c\n", 6, "path: missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("isc.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not contain %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("not a *config.Error: %T", err)
			}
			if e.Line != c.line {
				t.Fatalf("line %d, want %d (%s)", e.Line, c.line, msg)
			}
			if !strings.Contains(msg, "; fix: ") {
				t.Fatalf("no fix in %q", msg)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/isc.yaml")
	if err == nil || !strings.Contains(err.Error(), "reading /nonexistent/isc.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n")
	f.Add(head + "mirror:\n  operators:\n  - catalog: quay.io/a/b:1\n    packages:\n    - name: p\n      channels: [{name: c, minVersion: 1.0.0}]\n")
	f.Add(head + "mirror:\n  platform:\n    channels: [{name: s, shortestPath: true}]\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := Parse("fuzz.yaml", []byte(s))
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
	})
}

func TestPlatformRelease(t *testing.T) {
	c, err := Parse("isc.yaml", []byte(head+"mirror:\n  platform:\n    graph: true\n    kubeVirtContainer: true\n    release: quay.io/openshift-release-dev/ocp-release:4.16.0-rc.1-x86_64\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pl := c.Spec.Platform; pl.Release != "quay.io/openshift-release-dev/ocp-release:4.16.0-rc.1-x86_64" || len(pl.Channels) != 0 || !pl.Graph || !pl.KubeVirtContainer {
		t.Fatalf("platform %+v", pl)
	}
}

// TestDeleteHelm: delete.helm reads as mirror.helm does (oc-mirror's own
// delete configurations use it, e.g. its delete-config-77061.yaml and
// disc-happy-path.yaml), with the same checks.
func TestDeleteHelm(t *testing.T) {
	const dhead = "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n"
	cases := []struct {
		name, body string
		repos      []string // repository name/chart count
		local      int
		err        string
	}{
		{name: "oc-mirror delete-config-77061", body: dhead + `  helm:
    repositories:
      - name: podinfo
        url: https://stefanprodan.github.io/podinfo
        charts:
          - name: podinfo
            version: 5.0.0
      - name: sbo
        url: https://redhat-developer.github.io/service-binding-operator-helm-chart/
`, repos: []string{"podinfo/1", "sbo/0"}},
		{name: "with other kinds", body: dhead + `  additionalImages:
  - name: quay.io/openshifttest/hello-openshift@sha256:61b8f5e1a3b5dbd9e2c35fd448dc5106337d7a299873dd3a6f0cd8d4891ecc27
  helm:
    local:
    - name: mychart
      path: ./charts/mychart
      imagePaths: ["{.spec.template.spec.containers[*].image}"]
`, local: 1},
		{name: "unknown field", body: dhead + "  helm:\n    repositories:\n    - name: r\n      url: https://charts.example.com\n      colour: red\n", err: `delete.helm.repositories[0].colour: unknown field`},
		{name: "bad url", body: dhead + "  helm:\n    repositories:\n    - name: r\n      url: charts.example.com\n", err: "is not an http(s) URL"},
		{name: "local without path", body: dhead + "  helm:\n    local:\n    - name: c\n", err: "path: missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("delete.yaml", []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := cfg.Spec.Helm
			if cfg.Kind != KindDelete || h == nil || len(h.Repositories) != len(tc.repos) || len(h.Local) != tc.local {
				t.Fatalf("delete.helm = %+v", h)
			}
			for i, want := range tc.repos {
				if got := fmt.Sprintf("%s/%d", h.Repositories[i].Name, len(h.Repositories[i].Charts)); got != want {
					t.Errorf("repositories[%d] = %s, want %s", i, got, want)
				}
			}
		})
	}
}
