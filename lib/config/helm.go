package config

import (
	"fmt"
	"net/url"

	"gopkg.in/yaml.v3"
)

// Helm is mirror.helm (oc-mirror v2alpha1): charts whose rendered
// templates name the images to mirror.
type Helm struct {
	Repositories []HelmRepository `json:"repositories,omitempty"`
	Local        []HelmChart      `json:"local,omitempty"`
}

// HelmRepository is a chart repository (an index.yaml at URL).
type HelmRepository struct {
	Name   string      `json:"name"`
	URL    string      `json:"url"`
	Charts []HelmChart `json:"charts,omitempty"` // none: every chart of the index
	Line   int         `json:"-"`
}

// HelmChart is a chart of a repository (name, version) or a local one
// (name, path). ImagePaths are JSONPath expressions naming more images in
// the rendered objects.
type HelmChart struct {
	Name       string   `json:"name"`
	Version    string   `json:"version,omitempty"`
	Path       string   `json:"path,omitempty"`
	ImagePaths []string `json:"imagePaths,omitempty"`
	Platforms  []string `json:"platforms,omitempty"`
	Line       int      `json:"-"`
}

func (p *parser) helm(n *yaml.Node, path string) (*Helm, error) {
	f, err := p.mapping(n, path, "repositories", "local")
	if err != nil {
		return nil, err
	}
	h := &Helm{}
	if rn := f["repositories"]; rn != nil {
		items, err := p.list(rn, path+".repositories")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			rp := fmt.Sprintf("%s.repositories[%d]", path, i)
			rf, err := p.mapping(it, rp, "name", "url", "charts")
			if err != nil {
				return nil, err
			}
			r := HelmRepository{Line: it.Line}
			for k, dst := range map[string]*string{"name": &r.Name, "url": &r.URL} {
				if rf[k] == nil {
					return nil, p.errf(it, rp+"."+k, "add name: and url: https://charts.example.com", "missing")
				}
				if err := p.str(rf[k], rp+"."+k, dst); err != nil {
					return nil, err
				}
			}
			if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, p.errf(rf["url"], rp+".url", "write the repository's http(s) URL, the one index.yaml lives under", "%q is not an http(s) URL", r.URL)
			}
			if cn := rf["charts"]; cn != nil {
				if r.Charts, err = p.helmCharts(cn, rp+".charts", false); err != nil {
					return nil, err
				}
			}
			h.Repositories = append(h.Repositories, r)
		}
	}
	if ln := f["local"]; ln != nil {
		if h.Local, err = p.helmCharts(ln, path+".local", true); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (p *parser) helmCharts(n *yaml.Node, path string, local bool) ([]HelmChart, error) {
	items, err := p.list(n, path)
	if err != nil {
		return nil, err
	}
	var out []HelmChart
	for i, it := range items {
		cp := fmt.Sprintf("%s[%d]", path, i)
		f, err := p.mapping(it, cp, "name", "version", "path", "imagePaths", "platforms")
		if err != nil {
			return nil, err
		}
		c := HelmChart{Line: it.Line}
		if f["name"] == nil {
			return nil, p.errf(it, cp+".name", "add name: <chart>", "missing")
		}
		if err := p.str(f["name"], cp+".name", &c.Name); err != nil {
			return nil, err
		}
		if v := f["version"]; v != nil {
			if err := p.str(v, cp+".version", &c.Version); err != nil {
				return nil, err
			}
		}
		if v := f["path"]; v != nil {
			if err := p.str(v, cp+".path", &c.Path); err != nil {
				return nil, err
			}
		}
		if local && c.Path == "" {
			return nil, p.errf(it, cp+".path", "add path: the chart's directory or .tgz", "missing")
		}
		if v := f["imagePaths"]; v != nil {
			ps, err := p.list(v, cp+".imagePaths")
			if err != nil {
				return nil, err
			}
			for j, pn := range ps {
				var s string
				if err := p.str(pn, fmt.Sprintf("%s.imagePaths[%d]", cp, j), &s); err != nil {
					return nil, err
				}
				c.ImagePaths = append(c.ImagePaths, s)
			}
		}
		if v := f["platforms"]; v != nil {
			if c.Platforms, err = p.platforms(v, cp+".platforms"); err != nil {
				return nil, err
			}
			p.warnf(v, cp+".platforms", "ocm copies the charts' images whole (every platform); the filter is not applied (ocm copies sparse only additional, release and operator images with platforms)")
		}
		out = append(out, c)
	}
	return out, nil
}
