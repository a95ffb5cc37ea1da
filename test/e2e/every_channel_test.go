package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// One catalog entry alone (scenario 1) and one whose packages name no
// channels (scenarios 3, 5, 6 and 7).
const everyChannelISC = `mirror:
  operators:
  - catalog: %[1]s
    targetCatalog: mirrored/heads
  - catalog: %[1]s
    targetCatalog: mirrored/picked
    packages:
    - name: aqua
    - name: elastic
      minVersion: 5.2.3-31
    - name: epsilon
      maxVersion: 2.0.0
    - name: gamma
      minVersion: 0.1.0
      maxVersion: 0.2.0
`

// TestI25EveryChannel: without --every-channel a package that names no
// channels gets its default channel (the reference's table) and ocm-plan
// names the channels left out, one line per package; with it, every channel
// (oc-mirror 4.18+), and a Subscription to each resolves on the mirror:
// the rebuilt catalogs are served by opm and asked over gRPC for each
// channel's head. Expected sets are written by hand from the fixture's
// channels (catalogtest); "*" marks the default channel.
func TestI25EveryChannel(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		channels map[string][]string // target repository -> package/channel=head
		bundles  map[string][]string // target repository -> package/channel/bundle served
		warned   []string            // packages named on stderr
	}
	cases := []struct {
		flag string
		want want
	}{
		{"", want{
			channels: map[string][]string{
				"mirrored/heads": {"aqua/stable*=aqua.v1.3.0", "delta/stable*=delta.v2.2.0", "elastic/stable-5.2*=elastic.v5.2.4",
					"epsilon/v1*=epsilon.v1.0.1", "gamma/alpha*=gamma.v0.2.0", "zeta/stable*=zeta.v3.1.0"},
				"mirrored/picked": {"aqua/stable*=aqua.v1.3.0", "elastic/stable-5.2*=elastic.v5.2.4", "epsilon/v1*=epsilon.v1.0.1", "gamma/alpha*=gamma.v0.2.0"},
			},
			bundles: map[string][]string{
				"mirrored/picked": {"aqua/stable/aqua.v1.3.0", "elastic/stable-5.2/elastic.v5.2.3-31", "elastic/stable-5.2/elastic.v5.2.4",
					"epsilon/v1/epsilon.v1.0.0", "epsilon/v1/epsilon.v1.0.1", "gamma/alpha/gamma.v0.1.0", "gamma/alpha/gamma.v0.2.0"},
			},
			warned: []string{"package aqua: channels fast left out", "package elastic: channels stable-5.3 left out", "package epsilon: channels v2 left out"},
		}},
		{"--every-channel", want{
			channels: map[string][]string{
				"mirrored/heads": {"aqua/fast=aqua.v1.4.0", "aqua/stable*=aqua.v1.3.0", "delta/stable*=delta.v2.2.0", "elastic/stable-5.2*=elastic.v5.2.4",
					"elastic/stable-5.3=elastic.v5.3.1+build.7", "epsilon/v1*=epsilon.v1.0.1", "epsilon/v2=epsilon.v2.0.0", "gamma/alpha*=gamma.v0.2.0", "zeta/stable*=zeta.v3.1.0"},
				"mirrored/picked": {"aqua/fast=aqua.v1.4.0", "aqua/stable*=aqua.v1.3.0", "elastic/stable-5.2*=elastic.v5.2.4", "elastic/stable-5.3=elastic.v5.3.1+build.7",
					"epsilon/v1*=epsilon.v1.0.1", "epsilon/v2=epsilon.v2.0.0", "gamma/alpha*=gamma.v0.2.0"},
			},
			bundles: map[string][]string{
				"mirrored/picked": {"aqua/fast/aqua.v1.4.0", "aqua/stable/aqua.v1.3.0", "elastic/stable-5.2/elastic.v5.2.3-31", "elastic/stable-5.2/elastic.v5.2.4",
					"elastic/stable-5.3/elastic.v5.3.0", "elastic/stable-5.3/elastic.v5.3.1+build.7",
					"epsilon/v1/epsilon.v1.0.0", "epsilon/v1/epsilon.v1.0.1", "epsilon/v2/epsilon.v2.0.0", "gamma/alpha/gamma.v0.1.0", "gamma/alpha/gamma.v0.2.0"},
			},
		}},
	}
	for _, c := range cases {
		t.Run("flag="+c.flag, func(t *testing.T) {
			dst := testenv.Start(t, testenv.RegistryOptions{})
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(everyChannelISC, cat.Ref))
			r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml --cache cache %s 2>plan.err | ocm-push --cache cache docker://%s > pushed.jsonl", c.flag, dst.Host))
			stderr := sh(t, dir, nil, "cat plan.err").stdout
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, stderr, r.stderr)
			}
			// One line per package and catalog entry: scenario 1 and the packages.
			var warned []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "--every-channel") {
					warned = append(warned, l)
				}
			}
			if len(warned) != 2*len(c.want.warned) {
				t.Errorf("%d lines name --every-channel, want %d:\n%s", len(warned), 2*len(c.want.warned), stderr)
			}
			for _, w := range c.want.warned {
				if n := strings.Count(stderr, w); n != 2 {
					t.Errorf("%q on %d lines, want 2 (one per catalog entry):\n%s", w, n, stderr)
				}
			}
			cats := map[string]*record.Record{}
			for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
				if rec.Status != record.StatusPushed {
					t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
				}
				if rec.Origin == record.OriginCatalog {
					repo, _, _ := strings.Cut(strings.TrimPrefix(rec.Target, dst.Host+"/"), ":")
					cats[repo] = rec
				}
			}
			for repo, wantChannels := range c.want.channels {
				rec := cats[repo]
				if rec == nil {
					t.Fatalf("no catalog pushed to %s: %v", repo, cats)
				}
				fbcDir := filepath.Join(dir, "fbc-"+filepath.Base(repo))
				readCatalog(t, dst.Host, repo, rec.Digest, fbcDir)
				if out, err := opmValidate(t, fbcDir); err != nil {
					t.Fatalf("opm validate rejects %s: %v\n%s", repo, err, out)
				}
				srv := serveCatalog(t, dst.Host+"/"+repo+"@"+rec.Digest)
				var got []string
				for _, ch := range srv.Channels {
					if ch.Bundle != ch.Head {
						t.Errorf("%s: a Subscription to %s/%s gets %s, the channel's head is %s", repo, ch.Package, ch.Name, ch.Bundle, ch.Head)
					}
					d := ""
					if ch.Default {
						d = "*"
					}
					got = append(got, ch.Package+"/"+ch.Name+d+"="+ch.Bundle)
				}
				if strings.Join(got, " ") != strings.Join(wantChannels, " ") {
					t.Errorf("%s serves channels\n%v\nwant\n%v", repo, got, wantChannels)
				}
				if wantBundles := c.want.bundles[repo]; wantBundles != nil {
					var gotB []string
					for _, b := range srv.Bundles {
						gotB = append(gotB, b.Package+"/"+b.Channel+"/"+b.Name)
					}
					sort.Strings(gotB)
					if strings.Join(gotB, " ") != strings.Join(wantBundles, " ") {
						t.Errorf("%s serves bundles\n%v\nwant\n%v", repo, gotB, wantBundles)
					}
				}
			}
		})
	}
}
