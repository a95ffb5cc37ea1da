package catalog

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/catalogtest"
)

func fixture(t *testing.T) *FBC {
	t.Helper()
	f, err := Parse(catalogtest.Files("configs", catalogtest.FakeImages))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func names(s *Selection) []string {
	var out []string
	for _, ps := range s.Packages {
		for b := range ps.Bundles {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

func all(pkgs ...string) []string {
	var out []string
	for _, b := range catalogtest.Bundles() {
		for _, p := range pkgs {
			if b.Package == p {
				out = append(out, b.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// One case per scenario of the reference's table; expected sets are written
// out by hand from the fixture's channels (catalogtest): want by the
// reference's rule (default channel only where no channel is named), every
// with Filter.EveryChannel (oc-mirror 4.18+: each channel), left the
// channels the default rule leaves out. An error case expects the same
// error both ways.
func TestScenarios(t *testing.T) {
	pk := func(name string) PackageFilter { return PackageFilter{Name: name} }
	type left = map[string][]string
	cases := []struct {
		n     int
		name  string
		f     Filter
		want  []string
		every []string
		left  left
		err   string
	}{
		{1, "catalog only: default channel heads", Filter{},
			[]string{"aqua.v1.3.0", "delta.v2.2.0", "elastic.v5.2.4", "epsilon.v1.0.1", "gamma.v0.2.0", "zeta.v3.1.0"},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0", "delta.v2.2.0", "elastic.v5.2.4", "elastic.v5.3.1+build.7", "epsilon.v1.0.1", "epsilon.v2.0.0", "gamma.v0.2.0", "zeta.v3.1.0"},
			left{"aqua": {"fast"}, "elastic": {"stable-5.3"}, "epsilon": {"v2"}}, ""},
		{2, "full catalog", Filter{Full: true}, all("aqua", "delta", "elastic", "epsilon", "gamma", "zeta"), all("aqua", "delta", "elastic", "epsilon", "gamma", "zeta"), nil, ""},
		{3, "package: default channel head", Filter{Packages: []PackageFilter{pk("aqua")}}, []string{"aqua.v1.3.0"},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, left{"aqua": {"fast"}}, ""},
		{4, "full package: every channel", Filter{Full: true, Packages: []PackageFilter{pk("aqua")}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0", "aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0", "aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"}, nil, ""},
		{5, "package minVersion (pre-release)", Filter{Packages: []PackageFilter{{Name: "elastic", MinVersion: "5.2.3-31"}}},
			[]string{"elastic.v5.2.3-31", "elastic.v5.2.4"},
			[]string{"elastic.v5.2.3-31", "elastic.v5.2.4", "elastic.v5.3.0", "elastic.v5.3.1+build.7"}, left{"elastic": {"stable-5.3"}}, ""},
		{6, "package maxVersion", Filter{Packages: []PackageFilter{{Name: "aqua", MaxVersion: "1.1.0"}}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0"},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0"}, left{"aqua": {"fast"}}, ""},
		{7, "package min and max", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.1.0", MaxVersion: "1.2.0"}}},
			[]string{"aqua.v1.1.0", "aqua.v1.2.0"},
			[]string{"aqua.v1.1.0", "aqua.v1.2.0"}, left{"aqua": {"fast"}}, ""},
		{8, "channel: its head", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast"}}}}},
			[]string{"aqua.v1.4.0"}, []string{"aqua.v1.4.0"}, nil, ""},
		{9, "full channel", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast"}}}}},
			[]string{"aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"}, []string{"aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"}, nil, ""},
		{10, "two channels: both heads", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "stable"}, {Name: "fast"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, []string{"aqua.v1.3.0", "aqua.v1.4.0"}, nil, ""},
		{11, "channel minVersion", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast", MinVersion: "1.3.0"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, []string{"aqua.v1.3.0", "aqua.v1.4.0"}, nil, ""},
		{12, "channel maxVersion", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "stable", MaxVersion: "1.1.0"}}}}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0"}, []string{"aqua.v1.0.0", "aqua.v1.1.0"}, nil, ""},
		{13, "channel min and max", Filter{Packages: []PackageFilter{{Name: "elastic", DefaultChannel: "stable-5.3", Channels: []ChannelFilter{{Name: "stable-5.3", MinVersion: "5.3.0", MaxVersion: "5.3.1"}}}}},
			[]string{"elastic.v5.3.0", "elastic.v5.3.1+build.7"}, []string{"elastic.v5.3.0", "elastic.v5.3.1+build.7"}, nil, ""},
		{14, "exact bundles", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0", "aqua.v1.4.0"}}}},
			[]string{"aqua.v1.0.0", "aqua.v1.4.0"}, []string{"aqua.v1.0.0", "aqua.v1.4.0"}, nil, ""},
		// oc-mirror 4.18+: a package range applies to each named channel.
		{15, "channels with package versions", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.3.0", Channels: []ChannelFilter{{Name: "fast"}, {Name: "stable"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, []string{"aqua.v1.3.0", "aqua.v1.4.0"}, nil, ""},
		{15, "package and channel versions", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.0.0", Channels: []ChannelFilter{{Name: "stable", MaxVersion: "1.2.0"}}}}},
			nil, nil, nil, "package-level minVersion/maxVersion cannot be combined with channel minVersion/maxVersion"},
		// operator-registry's mirror filter: the default channel must survive.
		{0, "default channel dropped", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, nil, nil, "drop the default channel stable; fix: add defaultChannel"},
		{0, "defaultChannel not kept", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "stable", Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, nil, nil, "defaultChannel stable is not among the channels kept (fast)"},
		{0, "defaultChannel unknown", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "beta"}}},
			nil, nil, nil, "defaultChannel beta is not in the package"},
		{0, "defaultChannel without channels filters that channel", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast"}}},
			[]string{"aqua.v1.4.0"}, []string{"aqua.v1.3.0", "aqua.v1.4.0"}, left{"aqua": {"stable"}}, ""},
		{16, "full with package versions", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", MaxVersion: "1.2.0"}}},
			nil, nil, nil, "full: true cannot be combined with minVersion/maxVersion"},
		{17, "full with channel versions", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast", MinVersion: "1.3.0"}}}}},
			nil, nil, nil, "full: true cannot be combined with channel minVersion/maxVersion"},
		{17, "channels with bundles", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0"}, Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, nil, nil, "channels and bundles cannot be combined"},
		{0, "unknown package names the closest", Filter{Packages: []PackageFilter{pk("aqau")}}, nil, nil, nil, "package aqau is not in the catalog; known: aqua,"},
		{0, "unknown channel", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "fsat"}}}}}, nil, nil, nil, "channel fsat is not in the package; known: fast,"},
		{0, "unknown bundle", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v9"}}}}, nil, nil, nil, "bundle aqua.v9 is not in the package"},
		{0, "empty range", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "7.0.0"}}}, nil, nil, nil, "between 7.0.0 and any"},
	}
	for _, c := range cases {
		for _, every := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/every=%v", c.name, every), func(t *testing.T) {
				f := c.f
				f.EveryChannel = every
				s, err := fixture(t).Select(f)
				if c.err != "" {
					if err == nil || !strings.Contains(err.Error(), c.err) {
						t.Fatalf("scenario %d: err = %v, want %q", c.n, err, c.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("scenario %d: %v", c.n, err)
				}
				want, wantLeft := c.want, c.left
				if every {
					want, wantLeft = c.every, nil
				}
				if got := names(s); !reflect.DeepEqual(got, want) {
					t.Fatalf("scenario %d: got %v, want %v", c.n, got, want)
				}
				if len(s.LeftOut) != 0 || len(wantLeft) != 0 {
					if !reflect.DeepEqual(s.LeftOut, wantLeft) {
						t.Fatalf("scenario %d: channels left out %v, want %v", c.n, s.LeftOut, wantLeft)
					}
				}
			})
		}
	}
}

// channelSets lists "package/channel=bundles" of a selection.
func channelSets(s *Selection) []string {
	var out []string
	for pn, ps := range s.Packages {
		for cn, bs := range ps.Channels {
			bs = append([]string(nil), bs...)
			sort.Strings(bs)
			out = append(out, pn+"/"+cn+"="+strings.Join(bs, ","))
		}
	}
	sort.Strings(out)
	return out
}

// With EveryChannel a package range applies to each channel: channels with
// nothing in the range are dropped, and only a range no channel meets fails.
func TestI25EveryChannelRanges(t *testing.T) {
	cases := []struct {
		name string
		pf   PackageFilter
		want []string
		err  string
	}{
		{"max below one channel", PackageFilter{Name: "aqua", MaxVersion: "1.1.0"}, []string{"aqua/stable=aqua.v1.0.0,aqua.v1.1.0"}, ""},
		{"min and max across both", PackageFilter{Name: "aqua", MinVersion: "1.1.0", MaxVersion: "1.2.0"},
			[]string{"aqua/fast=aqua.v1.2.0", "aqua/stable=aqua.v1.1.0,aqua.v1.2.0"}, ""},
		{"min above the default channel", PackageFilter{Name: "aqua", MinVersion: "1.4.0"}, []string{"aqua/fast=aqua.v1.4.0"}, ""},
		{"pre-release min", PackageFilter{Name: "elastic", MinVersion: "5.2.3-31"},
			[]string{"elastic/stable-5.2=elastic.v5.2.3-31,elastic.v5.2.4", "elastic/stable-5.3=elastic.v5.3.0,elastic.v5.3.1+build.7"}, ""},
		{"heads with defaultChannel", PackageFilter{Name: "epsilon", DefaultChannel: "v2"}, []string{"epsilon/v1=epsilon.v1.0.1", "epsilon/v2=epsilon.v2.0.0"}, ""},
		{"range no channel meets", PackageFilter{Name: "aqua", MinVersion: "7.0.0"}, nil,
			"no channel has a bundle between 7.0.0 and any (fast has 1.2.0 to 1.4.0; stable has 1.0.0 to 1.3.0)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := fixture(t).Select(Filter{EveryChannel: true, Packages: []PackageFilter{c.pf}})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := channelSets(s); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestRenderKeepsOneHeadPerChannel(t *testing.T) {
	cat := fixture(t)
	for _, f := range []Filter{
		{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0", "aqua.v1.4.0"}}}},
		{Packages: []PackageFilter{{Name: "gamma", MinVersion: "0.1.0"}, {Name: "delta", MaxVersion: "2.1.0"}}},
		{Full: true},
		{Packages: []PackageFilter{{Name: "epsilon", DefaultChannel: "v2", Channels: []ChannelFilter{{Name: "v2"}}}}},
		{EveryChannel: true},
		// aqua's default channel stable has nothing from 1.4.0: fast is kept alone.
		{EveryChannel: true, Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.4.0"}, {Name: "elastic", MaxVersion: "5.3.0"}}},
	} {
		sel, err := cat.Select(f)
		if err != nil {
			t.Fatal(err)
		}
		files, err := cat.Render(sel, "configs")
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(files)
		if err != nil {
			t.Fatalf("rendered catalog does not parse: %v", err)
		}
		for pn, p := range back.Packages {
			if p.Channels[p.DefaultChannel] == nil {
				t.Errorf("%s: default channel %q not kept", pn, p.DefaultChannel)
			}
			for cn, c := range p.Channels {
				if _, err := c.Head(); err != nil {
					t.Errorf("%s/%s: %v", pn, cn, err)
				}
			}
			for bn := range p.Bundles {
				if !sel.Packages[pn].Bundles[bn] {
					t.Errorf("%s: unselected bundle %s rendered", pn, bn)
				}
			}
		}
		for pn, ps := range sel.Packages {
			if got, want := keys(back.Packages[pn].Channels), keys(ps.Channels); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: channels %v rendered, want %v", pn, got, want)
			}
		}
		if got, want := len(back.Packages), len(sel.Packages); got != want {
			t.Errorf("%d packages rendered, want %d", got, want)
		}
	}
	// Deprecation of a dropped bundle is dropped with it.
	sel, _ := cat.Select(Filter{Packages: []PackageFilter{{Name: "delta"}}})
	files, _ := cat.Render(sel, "configs")
	if strings.Contains(string(files["configs/delta/catalog.json"]), "olm.deprecations") {
		t.Error("deprecation naming a dropped bundle was kept")
	}
	sel, _ = cat.Select(Filter{Packages: []PackageFilter{{Name: "delta", MaxVersion: "2.0.0"}}})
	files, _ = cat.Render(sel, "configs")
	if !strings.Contains(string(files["configs/delta/catalog.json"]), "olm.deprecations") {
		t.Error("deprecation of a kept bundle was dropped")
	}
	// epsilon v2 only, defaultChannel v2: the rebuilt catalog says so.
	sel, _ = cat.Select(Filter{Packages: []PackageFilter{{Name: "epsilon", DefaultChannel: "v2", Channels: []ChannelFilter{{Name: "v2"}}}}})
	files, _ = cat.Render(sel, "configs")
	if !strings.Contains(string(files["configs/epsilon/catalog.json"]), `"defaultChannel": "v2"`) {
		t.Errorf("default channel not moved to a kept one:\n%s", files["configs/epsilon/catalog.json"])
	}
	// defaultChannel overrides the catalog's even when that one is kept.
	sel, err := cat.Select(Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "stable"}, {Name: "fast"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	files, _ = cat.Render(sel, "configs")
	if !strings.Contains(string(files["configs/aqua/catalog.json"]), `"defaultChannel": "fast"`) {
		t.Errorf("defaultChannel fast not applied:\n%s", files["configs/aqua/catalog.json"])
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"configs/x/catalog.json": `{"schema":"olm.channel","package":"x","name":"a","entries":[{"name":"x.v1"}]}` + "\n" + `{"schema":"olm.package","name":"x","defaultChannel":"a"}`,
		"configs/y/catalog.json": `{"schema":"olm.package","name":"y"`,
		"configs/z/index.yaml":   "schema: olm.bundle\nname: z.v1\npackage: z\nproperties: []\n",
	}
	wants := map[string]string{
		"configs/x/catalog.json": "names bundle x.v1, which the catalog lacks",
		"configs/y/catalog.json": "catalog file configs/y/catalog.json",
		"configs/z/index.yaml":   "bundle z.v1 has no olm.package version property",
	}
	for f, content := range cases {
		_, err := Parse(map[string][]byte{f: []byte(content)})
		if err == nil || !strings.Contains(err.Error(), wants[f]) {
			t.Errorf("%s: err = %v, want %q", f, err, wants[f])
		}
	}
}

func FuzzParse(f *testing.F) {
	for name, b := range catalogtest.Files("configs", catalogtest.FakeImages) {
		if strings.HasSuffix(name, ".json") {
			f.Add(string(b), true)
		} else {
			f.Add(string(b), false)
		}
	}
	f.Fuzz(func(t *testing.T, s string, isJSON bool) {
		name := "configs/p/index.yaml"
		if isJSON {
			name = "configs/p/catalog.json"
		}
		cat, err := Parse(map[string][]byte{name: []byte(s)})
		if err != nil {
			return
		}
		// Whatever parses can be selected and rendered without panicking.
		if sel, err := cat.Select(Filter{Full: true}); err == nil {
			cat.Render(sel, "configs")
		}
		cat.Select(Filter{})
	})
}
