// Package catalogtest builds a small but tricky file-based catalog for tests:
// six packages, several channels, replaces/skips/skipRange graphs,
// pre-release and build-metadata versions, JSON and YAML files, a package
// split over several files, and a deprecation document.
package catalogtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Bundle of the fixture.
type Bundle struct {
	Package, Name, Version string
}

// Images chooses a bundle's image and related images.
type Images func(b Bundle) (image string, related []Related)

// Related image of a bundle.
type Related struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

type entry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces,omitempty"`
	Skips     []string `json:"skips,omitempty"`
	SkipRange string   `json:"skipRange,omitempty"`
}

type channel struct {
	name    string
	entries []entry
}

type pkg struct {
	name, def string
	channels  []channel
	format    string // json, yaml, split
}

func e(name, replaces string, skips ...string) entry {
	return entry{Name: name, Replaces: replaces, Skips: skips}
}

var packages = []pkg{
	{name: "aqua", def: "stable", format: "json", channels: []channel{
		{"stable", []entry{e("aqua.v1.0.0", ""), e("aqua.v1.1.0", "aqua.v1.0.0"), e("aqua.v1.2.0", "aqua.v1.1.0"), e("aqua.v1.3.0", "aqua.v1.2.0")}},
		{"fast", []entry{e("aqua.v1.2.0", ""), e("aqua.v1.3.0", "aqua.v1.2.0"), e("aqua.v1.4.0", "aqua.v1.3.0")}},
	}},
	{name: "elastic", def: "stable-5.2", format: "json", channels: []channel{
		{"stable-5.2", []entry{e("elastic.v5.2.1", ""), e("elastic.v5.2.3-31", "elastic.v5.2.1"), {Name: "elastic.v5.2.4", Replaces: "elastic.v5.2.3-31", SkipRange: ">=5.2.0 <5.2.4"}}},
		{"stable-5.3", []entry{{Name: "elastic.v5.3.0", SkipRange: ">=5.2.0 <5.3.0"}, e("elastic.v5.3.1+build.7", "elastic.v5.3.0")}},
	}},
	{name: "gamma", def: "alpha", format: "yaml", channels: []channel{
		{"alpha", []entry{e("gamma.v0.1.0", ""), e("gamma.v0.2.0", "", "gamma.v0.1.0")}},
	}},
	{name: "delta", def: "stable", format: "json", channels: []channel{
		{"stable", []entry{e("delta.v2.0.0", ""), e("delta.v2.1.0", "delta.v2.0.0"), e("delta.v2.2.0", "delta.v2.1.0")}},
	}},
	{name: "epsilon", def: "v1", format: "yaml", channels: []channel{
		{"v1", []entry{e("epsilon.v1.0.0", ""), e("epsilon.v1.0.1", "epsilon.v1.0.0")}},
		{"v2", []entry{e("epsilon.v2.0.0", "")}},
	}},
	{name: "zeta", def: "stable", format: "split", channels: []channel{
		{"stable", []entry{e("zeta.v3.0.0", ""), e("zeta.v3.1.0", "zeta.v3.0.0")}},
	}},
}

// Bundles lists every bundle of the fixture, sorted by name.
func Bundles() []Bundle {
	seen := map[string]bool{}
	var out []Bundle
	for _, p := range packages {
		for _, c := range p.channels {
			for _, en := range c.entries {
				if !seen[en.Name] {
					seen[en.Name] = true
					out = append(out, Bundle{Package: p.name, Name: en.Name, Version: strings.TrimPrefix(en.Name, p.name+".v")})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FakeImages gives every bundle made-up digests (for tests that never pull).
func FakeImages(b Bundle) (string, []Related) {
	d := func(s string) string {
		h := 0
		for _, c := range s {
			h = h*31 + int(c)
		}
		return fmt.Sprintf("sha256:%064x", uint32(h))
	}
	img := "registry.example.com/bundles/" + b.Package + "@" + d(b.Name)
	return img, []Related{{Name: "bundle", Image: img}, {Name: "operator", Image: "registry.example.com/ops/" + b.Package + "@" + d(b.Name+"op")}}
}

// Files renders the catalog's declarative config under dir ("configs").
func Files(dir string, images Images) map[string][]byte {
	files := map[string][]byte{}
	for _, p := range packages {
		var docs []any
		pdoc := map[string]any{"schema": "olm.package", "name": p.name, "defaultChannel": p.def, "description": p.name + " operator"}
		var cdocs, bdocs []any
		seen := map[string]bool{}
		for _, c := range p.channels {
			cdocs = append(cdocs, map[string]any{"schema": "olm.channel", "package": p.name, "name": c.name, "entries": c.entries})
			for _, en := range c.entries {
				if seen[en.Name] {
					continue
				}
				seen[en.Name] = true
				b := Bundle{Package: p.name, Name: en.Name, Version: strings.TrimPrefix(en.Name, p.name+".v")}
				img, rel := images(b)
				bdocs = append(bdocs, map[string]any{
					"schema": "olm.bundle", "name": b.Name, "package": p.name, "image": img,
					"properties": []any{
						map[string]any{"type": "olm.package", "value": map[string]any{"packageName": p.name, "version": b.Version}},
						map[string]any{"type": "olm.gvk", "value": map[string]any{"group": p.name + ".example.com", "kind": "Thing", "version": "v1"}},
					},
					"relatedImages": rel,
				})
			}
		}
		docs = append(docs, pdoc)
		docs = append(docs, cdocs...)
		docs = append(docs, bdocs...)
		if p.name == "delta" {
			docs = append(docs, map[string]any{"schema": "olm.deprecations", "package": "delta", "entries": []any{
				map[string]any{"reference": map[string]any{"schema": "olm.bundle", "name": "delta.v2.0.0"}, "message": "delta.v2.0.0 is deprecated"},
			}})
		}
		base := dir + "/" + p.name + "/"
		switch p.format {
		case "json":
			files[base+"catalog.json"] = jsonStream(docs)
		case "yaml":
			files[base+"index.yaml"] = yamlDocs(docs)
		case "split":
			files[base+"package.yaml"] = yamlDocs(docs[:1])
			files[base+"channels.json"] = jsonStream(cdocs)
			files[base+"bundles.json"] = jsonStream(bdocs)
		}
	}
	return files
}

func jsonStream(docs []any) []byte {
	var out []byte
	for _, d := range docs {
		b, _ := json.MarshalIndent(d, "", "  ")
		out = append(append(out, b...), '\n')
	}
	return out
}

func yamlDocs(docs []any) []byte {
	var parts []string
	for _, d := range docs {
		b, _ := yaml.Marshal(d)
		parts = append(parts, string(b))
	}
	return []byte(strings.Join(parts, "---\n"))
}
