package catalog

import (
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
// out by hand from the fixture's channels (catalogtest).
func TestScenarios(t *testing.T) {
	pk := func(name string) PackageFilter { return PackageFilter{Name: name} }
	cases := []struct {
		n    int
		name string
		f    Filter
		want []string
		err  string
	}{
		{1, "catalog only: default channel heads", Filter{},
			[]string{"aqua.v1.3.0", "delta.v2.2.0", "elastic.v5.2.4", "epsilon.v1.0.1", "gamma.v0.2.0", "zeta.v3.1.0"}, ""},
		{2, "full catalog", Filter{Full: true}, all("aqua", "delta", "elastic", "epsilon", "gamma", "zeta"), ""},
		{3, "package: default channel head", Filter{Packages: []PackageFilter{pk("aqua")}}, []string{"aqua.v1.3.0"}, ""},
		{4, "full package: every channel", Filter{Full: true, Packages: []PackageFilter{pk("aqua")}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0", "aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"}, ""},
		{5, "package minVersion (pre-release)", Filter{Packages: []PackageFilter{{Name: "elastic", MinVersion: "5.2.3-31"}}},
			[]string{"elastic.v5.2.3-31", "elastic.v5.2.4"}, ""},
		{6, "package maxVersion", Filter{Packages: []PackageFilter{{Name: "aqua", MaxVersion: "1.1.0"}}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0"}, ""},
		{7, "package min and max", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.1.0", MaxVersion: "1.2.0"}}},
			[]string{"aqua.v1.1.0", "aqua.v1.2.0"}, ""},
		{8, "channel: its head", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast"}}}}},
			[]string{"aqua.v1.4.0"}, ""},
		{9, "full channel", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast"}}}}},
			[]string{"aqua.v1.2.0", "aqua.v1.3.0", "aqua.v1.4.0"}, ""},
		{10, "two channels: both heads", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "stable"}, {Name: "fast"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, ""},
		{11, "channel minVersion", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast", MinVersion: "1.3.0"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, ""},
		{12, "channel maxVersion", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "stable", MaxVersion: "1.1.0"}}}}},
			[]string{"aqua.v1.0.0", "aqua.v1.1.0"}, ""},
		{13, "channel min and max", Filter{Packages: []PackageFilter{{Name: "elastic", DefaultChannel: "stable-5.3", Channels: []ChannelFilter{{Name: "stable-5.3", MinVersion: "5.3.0", MaxVersion: "5.3.1"}}}}},
			[]string{"elastic.v5.3.0", "elastic.v5.3.1+build.7"}, ""},
		{14, "exact bundles", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0", "aqua.v1.4.0"}}}},
			[]string{"aqua.v1.0.0", "aqua.v1.4.0"}, ""},
		// oc-mirror 4.18+: a package range applies to each named channel.
		{15, "channels with package versions", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.3.0", Channels: []ChannelFilter{{Name: "fast"}, {Name: "stable"}}}}},
			[]string{"aqua.v1.3.0", "aqua.v1.4.0"}, ""},
		{15, "package and channel versions", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "1.0.0", Channels: []ChannelFilter{{Name: "stable", MaxVersion: "1.2.0"}}}}},
			nil, "package-level minVersion/maxVersion cannot be combined with channel minVersion/maxVersion"},
		// operator-registry's mirror filter: the default channel must survive.
		{0, "default channel dropped", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, "drop the default channel stable; fix: add defaultChannel"},
		{0, "defaultChannel not kept", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "stable", Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, "defaultChannel stable is not among the channels kept (fast)"},
		{0, "defaultChannel unknown", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "beta"}}},
			nil, "defaultChannel beta is not in the package"},
		{0, "defaultChannel without channels filters that channel", Filter{Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast"}}},
			[]string{"aqua.v1.4.0"}, ""},
		{16, "full with package versions", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", MaxVersion: "1.2.0"}}},
			nil, "full: true cannot be combined with minVersion/maxVersion"},
		{17, "full with channel versions", Filter{Full: true, Packages: []PackageFilter{{Name: "aqua", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast", MinVersion: "1.3.0"}}}}},
			nil, "full: true cannot be combined with channel minVersion/maxVersion"},
		{17, "channels with bundles", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0"}, Channels: []ChannelFilter{{Name: "fast"}}}}},
			nil, "channels and bundles cannot be combined"},
		{0, "unknown package names the closest", Filter{Packages: []PackageFilter{pk("aqau")}}, nil, "package aqau is not in the catalog; known: aqua,"},
		{0, "unknown channel", Filter{Packages: []PackageFilter{{Name: "aqua", Channels: []ChannelFilter{{Name: "fsat"}}}}}, nil, "channel fsat is not in the package; known: fast,"},
		{0, "unknown bundle", Filter{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v9"}}}}, nil, "bundle aqua.v9 is not in the package"},
		{0, "empty range", Filter{Packages: []PackageFilter{{Name: "aqua", MinVersion: "7.0.0"}}}, nil, "no bundle between 7.0.0 and any (it has 1.0.0 to 1.3.0)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := fixture(t).Select(c.f)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("scenario %d: err = %v, want %q", c.n, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("scenario %d: %v", c.n, err)
			}
			if got := names(s); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("scenario %d: got %v, want %v", c.n, got, c.want)
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
