package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// Limits stop hostile catalogs, far above what real ones hold: a catalog
// is read as a stream, so its total size has no cap.
type Limits struct {
	Document int64 // bytes of one declarative config document
	Ratio    int64 // how many times its compressed size a layer may decompress to
}

// Settings that raise the limits (environment variables).
const (
	DocumentEnv = "OCM_CATALOG_MAX_DOCUMENT"
	RatioEnv    = "OCM_CATALOG_MAX_RATIO"
)

// DefaultLimits: the largest bundle documents of real catalogs (CSV and CRDs
// inlined) are a few MiB, and their layers decompress about 5 to 20 times.
var DefaultLimits = Limits{Document: 64 << 20, Ratio: 100}

// LimitsFromEnv is DefaultLimits with what DocumentEnv and RatioEnv set.
func LimitsFromEnv() (Limits, error) {
	l := DefaultLimits
	for _, v := range []struct {
		env string
		to  *int64
	}{{DocumentEnv, &l.Document}, {RatioEnv, &l.Ratio}} {
		s := os.Getenv(v.env)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("%s=%q is not a positive number; fix: set it to a number (or unset it)", v.env, s)
		}
		*v.to = n
	}
	return l, nil
}

// docRef says where a document is: its bytes in a file (for YAML, the YAML
// document's, and which JSON value of it). Documents are ordered as Parse
// always took them: by file name, then place in the file.
type docRef struct {
	file     string
	off, len int64
	sub      int
	n        int // place in the file
}

func (a docRef) after(b docRef) bool {
	return a.file > b.file || a.file == b.file && a.n > b.n
}

// docHead is what selection reads of a document; olm.bundle.object values
// are skipped (json.RawMessage, dropped after the document).
type docHead struct {
	Schema     string `json:"schema"`
	Name       string `json:"name"`
	Package    string `json:"package"`
	Image      string `json:"image"`
	Properties []struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"properties"`
	RelatedImages []RelatedImage `json:"relatedImages"`
}

// parser builds an FBC document by document.
type parser struct {
	f        *FBC
	keep     func(pkg string) bool // nil: every package
	keepDocs bool                  // bundle documents kept whole (Parse)
	limits   Limits
	others   map[*Package][]other
}

type other struct {
	at docRef
	d  map[string]any
}

func newParser(keep func(string) bool, keepDocs bool, l Limits) *parser {
	return &parser{f: &FBC{Packages: map[string]*Package{}, skipped: map[string]bool{}}, keep: keep, keepDocs: keepDocs, limits: l, others: map[*Package][]other{}}
}

func (ps *parser) pkg(name string) *Package {
	p := ps.f.Packages[name]
	if p == nil {
		p = &Package{Name: name, Channels: map[string]*Channel{}, Bundles: map[string]*Bundle{}}
		ps.f.Packages[name] = p
	}
	return p
}

// kept says whether documents of package name are kept; those of the
// others are dropped, their names remembered for suggestions.
func (ps *parser) kept(name string) bool {
	if ps.keep == nil || ps.keep(name) {
		return true
	}
	ps.f.skipped[name] = true
	return false
}

// file reads every document of catalog file name from r.
func (ps *parser) file(name string, r io.Reader) error {
	var err error
	switch strings.ToLower(path.Ext(name)) {
	case ".json":
		err = eachJSON(r, name, ps.limits.Document, 0, func(raw []byte, off int64, n int, h *docHead, herr error) error {
			return ps.doc(docRef{file: name, off: off, len: int64(len(raw)), n: n}, raw, h, herr)
		})
	case ".yaml", ".yml":
		n := 0
		err = eachYAML(r, name, ps.limits.Document, func(part []byte, off int64) error {
			j, err := yaml.YAMLToJSON(part)
			if err != nil {
				return err
			}
			return eachJSON(bytes.NewReader(j), name, ps.limits.Document, 0, func(raw []byte, _ int64, sub int, h *docHead, herr error) error {
				n++
				return ps.doc(docRef{file: name, off: off, len: int64(len(part)), sub: sub, n: n}, raw, h, herr)
			})
		})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("catalog file %s: %w", name, err)
	}
	return nil
}

// doc takes one document: bundles from their head alone, the other (small)
// documents whole, as maps.
func (ps *parser) doc(at docRef, raw []byte, h *docHead, herr error) error {
	if herr == nil && h.Schema == SchemaBundle && h.Name != "" && h.Package != "" {
		if !ps.kept(h.Package) {
			return nil
		}
		bd := &Bundle{Name: h.Name, Package: h.Package, Image: h.Image, Related: h.RelatedImages, at: at}
		for _, pr := range h.Properties {
			if err := bd.property(pr.Type, pr.Value, at.file); err != nil {
				return err
			}
		}
		if ps.keepDocs {
			d, err := decodeMap(raw)
			if err != nil {
				return err
			}
			bd.Doc = d
		}
		return ps.bundle(bd, at)
	}
	d, err := decodeMap(raw)
	if err != nil {
		return err
	}
	schema, _ := d["schema"].(string)
	switch schema {
	case SchemaPackage:
		name, _ := d["name"].(string)
		if name == "" {
			return fmt.Errorf("olm.package without name")
		}
		if !ps.kept(name) {
			return nil
		}
		p := ps.pkg(name)
		if p.Doc == nil || at.after(p.at) {
			p.Doc, p.at = d, at
			p.DefaultChannel, _ = d["defaultChannel"].(string)
		}
	case SchemaChannel:
		var c struct {
			Name    string  `json:"name"`
			Package string  `json:"package"`
			Entries []Entry `json:"entries"`
		}
		if err := remarshal(d, &c); err != nil || c.Name == "" || c.Package == "" {
			return fmt.Errorf("bad olm.channel %v: %v", d["name"], err)
		}
		if !ps.kept(c.Package) {
			return nil
		}
		// Render writes the entries anew: the document keeps the rest.
		delete(d, "entries")
		p := ps.pkg(c.Package)
		if old := p.Channels[c.Name]; old == nil || at.after(old.at) {
			p.Channels[c.Name] = &Channel{Name: c.Name, Entries: c.Entries, Doc: d, at: at}
		}
	case SchemaBundle:
		var b struct {
			Name       string `json:"name"`
			Package    string `json:"package"`
			Image      string `json:"image"`
			Properties []struct {
				Type  string          `json:"type"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
			RelatedImages []RelatedImage `json:"relatedImages"`
		}
		if err := remarshal(d, &b); err != nil || b.Name == "" || b.Package == "" {
			return fmt.Errorf("bad olm.bundle %v: %v", d["name"], err)
		}
		if !ps.kept(b.Package) {
			return nil
		}
		bd := &Bundle{Name: b.Name, Package: b.Package, Image: b.Image, Related: b.RelatedImages, at: at}
		for _, pr := range b.Properties {
			if err := bd.property(pr.Type, pr.Value, at.file); err != nil {
				return err
			}
		}
		if ps.keepDocs {
			bd.Doc = d
		}
		return ps.bundle(bd, at)
	default:
		p, _ := d["package"].(string)
		if p == "" || !ps.kept(p) {
			return nil // a document ocm cannot attach to a package is dropped with it
		}
		pk := ps.pkg(p)
		ps.others[pk] = append(ps.others[pk], other{at: at, d: d})
	}
	return nil
}

func (b *Bundle) property(typ string, value json.RawMessage, file string) error {
	if typ != "olm.package" {
		return nil
	}
	var v struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(value, &v) == nil && v.Version != "" {
		sv, err := semver.NewVersion(v.Version)
		if err != nil {
			return fmt.Errorf("bundle %s: version %q: %v", b.Name, v.Version, err)
		}
		b.Version = sv
	}
	return nil
}

func (ps *parser) bundle(bd *Bundle, at docRef) error {
	if bd.Version == nil {
		return fmt.Errorf("bundle %s has no olm.package version property", bd.Name)
	}
	p := ps.pkg(bd.Package)
	if old := p.Bundles[bd.Name]; old == nil || at.after(old.at) {
		p.Bundles[bd.Name] = bd
	}
	return nil
}

// finish checks the packages kept and orders their other documents.
func (ps *parser) finish() (*FBC, error) {
	for p, docs := range ps.others {
		sort.SliceStable(docs, func(i, j int) bool { return docs[j].at.after(docs[i].at) })
		for _, o := range docs {
			p.Others = append(p.Others, o.d)
		}
	}
	for _, p := range ps.f.Packages {
		if p.Doc == nil {
			return nil, fmt.Errorf("catalog: package %s has channels or bundles but no olm.package document", p.Name)
		}
		for _, c := range p.Channels {
			for _, e := range c.Entries {
				if p.Bundles[e.Name] == nil {
					return nil, fmt.Errorf("catalog: package %s channel %s names bundle %s, which the catalog lacks", p.Name, c.Name, e.Name)
				}
			}
		}
	}
	for n := range ps.f.Packages {
		delete(ps.f.skipped, n)
	}
	return ps.f, nil
}

func decodeMap(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	return d, nil
}

// tee keeps the bytes a json.Decoder reads from the start of the document
// it decodes, so the document's text comes with its head at no second
// scan; more than max bytes in one document is an error.
type tee struct {
	r    io.Reader
	buf  []byte
	base int64 // offset of buf[0] in the stream
	max  int64
	name string
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if int64(len(t.buf)) > t.max+64<<10 {
		return n, &capread.TooLargeError{Name: "a document of catalog file " + t.name, Cap: t.max, Fix: "if the catalog is trusted, raise " + DocumentEnv + " (bytes)"}
	}
	return n, err
}

// eachJSON calls f with every JSON value of r: its text, offset, place and
// head (herr: the head's type error, if any, the text then decides).
func eachJSON(r io.Reader, name string, max int64, base int64, f func(raw []byte, off int64, n int, h *docHead, herr error) error) error {
	t := &tee{r: r, max: max, name: name, base: base}
	dec := json.NewDecoder(t)
	for n := 0; ; n++ {
		var h docHead
		err := dec.Decode(&h)
		if err == io.EOF {
			return nil
		}
		var te *json.UnmarshalTypeError
		if err != nil && !errors.As(err, &te) {
			return err
		}
		end := base + dec.InputOffset()
		raw := t.buf[:end-t.base]
		// Skip the whitespace before the value.
		lead := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n"))
		if err := f(raw[lead:], t.base+int64(lead), n, &h, err); err != nil {
			return err
		}
		t.buf = append(t.buf[:0], t.buf[end-t.base:]...)
		t.base = end
	}
}

// eachYAML calls f with every YAML document of r (split at lines that are
// exactly "---") and its offset.
func eachYAML(r io.Reader, name string, max int64, f func(part []byte, off int64) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var part []byte
	var off, at int64
	mid := false // the last read ended inside a line
	flush := func() error {
		defer func() { part = part[:0] }()
		if len(bytes.TrimSpace(part)) == 0 {
			return nil
		}
		return f(part, off)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
			return err
		}
		at += int64(len(line))
		whole := !mid
		mid = err == bufio.ErrBufferFull
		if whole && err == nil && strings.TrimRight(string(line), "\r\n") == "---" {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			off = at
		} else {
			part = append(part, line...)
			if int64(len(part)) > max {
				return &capread.TooLargeError{Name: "a document of catalog file " + name, Cap: max, Fix: "if the catalog is trusted, raise " + DocumentEnv + " (bytes)"}
			}
		}
		if err == io.EOF {
			return flush()
		}
	}
}
