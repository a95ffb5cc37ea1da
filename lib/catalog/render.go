package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/Masterminds/semver/v3"
)

// Render writes the selected part of the catalog as declarative config: one
// DIR/<package>/catalog.json per kept package. Each kept channel is rewritten
// into one linear upgrade graph over its kept bundles (each replaces the one
// below it), so it has exactly one head however the filter cut the original
// graph; skipRange is kept. A default channel that was not kept is replaced
// by the kept channel with the newest head.
func (cat *FBC) Render(sel *Selection, dir string) (map[string][]byte, error) {
	parts, err := cat.parts(sel, dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, pp := range parts {
		buf := bytes.NewBuffer(pp.head)
		for _, b := range pp.bundles {
			d, err := b.text()
			if err != nil {
				return nil, err
			}
			buf.Write(d)
		}
		buf.Write(pp.tail)
		out[pp.file] = buf.Bytes()
	}
	return out, nil
}

// packageParts is one rendered package file: the package and channel
// documents, then its bundles' documents, then the other documents.
type packageParts struct {
	file       string
	head, tail []byte
	bundles    []*Bundle
}

func (cat *FBC) parts(sel *Selection, dir string) ([]packageParts, error) {
	var out []packageParts
	names := make([]string, 0, len(sel.Packages))
	for n := range sel.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p, ps := cat.Packages[name], sel.Packages[name]
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "    ")
		enc.SetEscapeHTML(false)

		chans := keys(ps.Channels)
		def := p.DefaultChannel
		if ps.Default != "" {
			def = ps.Default
		}
		if _, ok := ps.Channels[def]; !ok {
			def = newestChannel(p, ps)
		}
		pdoc := copyMap(p.Doc)
		pdoc["defaultChannel"] = def
		if err := enc.Encode(pdoc); err != nil {
			return nil, err
		}
		for _, cn := range chans {
			bundles := append([]string(nil), ps.Channels[cn]...)
			sort.SliceStable(bundles, func(i, j int) bool {
				return p.Bundles[bundles[i]].Version.LessThan(p.Bundles[bundles[j]].Version)
			})
			orig := map[string]Entry{}
			for _, e := range p.Channels[cn].Entries {
				orig[e.Name] = e
			}
			var entries []Entry
			for i, b := range bundles {
				e := Entry{Name: b, SkipRange: orig[b].SkipRange}
				if i > 0 {
					e.Replaces = bundles[i-1]
				}
				entries = append(entries, e)
			}
			cdoc := copyMap(p.Channels[cn].Doc)
			cdoc["entries"] = entries
			if err := enc.Encode(cdoc); err != nil {
				return nil, err
			}
		}
		pp := packageParts{file: fmt.Sprintf("%s/%s/catalog.json", dir, name), head: bytes.Clone(buf.Bytes())}
		for _, bn := range keys(ps.Bundles) {
			pp.bundles = append(pp.bundles, p.Bundles[bn])
		}
		buf.Reset()
		for _, o := range p.Others {
			if o["schema"] == SchemaDeprecation {
				o = filterDeprecations(o, ps)
				if o == nil {
					continue
				}
			}
			if err := enc.Encode(o); err != nil {
				return nil, err
			}
		}
		pp.tail = bytes.Clone(buf.Bytes())
		out = append(out, pp)
	}
	return out, nil
}

// text is the bundle's document as Render writes it: from Doc, or from the
// spool Image.Rebuild wrote it to.
func (b *Bundle) text() ([]byte, error) {
	if b.spool != nil {
		d := make([]byte, b.spool.n)
		if _, err := b.spool.f.ReadAt(d, b.spool.off); err != nil {
			return nil, err
		}
		return d, nil
	}
	return renderDoc(b.Doc)
}

// size is len(text()).
func (b *Bundle) size() (int64, error) {
	if b.spool != nil {
		return b.spool.n, nil
	}
	d, err := renderDoc(b.Doc)
	return int64(len(d)), err
}

// reader reads text().
func (b *Bundle) reader() (io.Reader, error) {
	if b.spool != nil {
		return io.NewSectionReader(b.spool.f, b.spool.off, b.spool.n), nil
	}
	d, err := renderDoc(b.Doc)
	return bytes.NewReader(d), err
}

// renderDoc is d as Render writes a document.
func renderDoc(d map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newestChannel is the kept channel whose newest bundle is the newest.
func newestChannel(p *Package, ps *PackageSelection) string {
	best := ""
	for _, cn := range keys(ps.Channels) {
		for _, b := range ps.Channels[cn] {
			if best == "" || p.Bundles[b].Version.GreaterThan(newest(p, ps.Channels[best])) {
				best = cn
			}
		}
	}
	return best
}

func newest(p *Package, bundles []string) *semver.Version {
	var v *semver.Version
	for _, b := range bundles {
		if v == nil || p.Bundles[b].Version.GreaterThan(v) {
			v = p.Bundles[b].Version
		}
	}
	return v
}

// filterDeprecations drops entries that name bundles or channels no longer
// in the catalog (a dangling reference would make the catalog invalid).
func filterDeprecations(d map[string]any, ps *PackageSelection) map[string]any {
	entries, _ := d["entries"].([]any)
	var kept []any
	for _, e := range entries {
		em, _ := e.(map[string]any)
		ref, _ := em["reference"].(map[string]any)
		name, _ := ref["name"].(string)
		switch ref["schema"] {
		case SchemaBundle:
			if !ps.Bundles[name] {
				continue
			}
		case SchemaChannel:
			if _, ok := ps.Channels[name]; !ok {
				continue
			}
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return nil
	}
	c := copyMap(d)
	c["entries"] = kept
	return c
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
