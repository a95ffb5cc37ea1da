package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/ocm-mirror/ocm/lib/refs"
)

func (p *parser) imageSet(n *yaml.Node, path string, kind Kind) (*ImageSet, error) {
	allowed := []string{"platform", "operators", "additionalImages", "blockedImages", "helm", "samples"}
	if kind == KindDelete {
		allowed = []string{"platform", "operators", "additionalImages", "helm", "samples"}
	}
	f, err := p.mapping(n, path, allowed...)
	if err != nil {
		return nil, err
	}
	s := &ImageSet{}
	if sn := f["samples"]; sn != nil {
		if _, err := p.list(sn, path+".samples"); err != nil {
			return nil, err
		}
		p.warnf(sn, path+".samples", "ignored: oc-mirror v2 reads samples but mirrors nothing for them; list sample images under additionalImages")
	}
	if h := f["helm"]; h != nil {
		if s.Helm, err = p.helm(h, path+".helm"); err != nil {
			return nil, err
		}
	}
	if pn := f["platform"]; pn != nil {
		if s.Platform, err = p.platform(pn, path+".platform"); err != nil {
			return nil, err
		}
	}
	if on := f["operators"]; on != nil {
		items, err := p.list(on, path+".operators")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			op, err := p.operator(it, fmt.Sprintf("%s.operators[%d]", path, i))
			if err != nil {
				return nil, err
			}
			s.Operators = append(s.Operators, *op)
		}
	}
	if an := f["additionalImages"]; an != nil {
		if s.AdditionalImages, err = p.images(an, path+".additionalImages", false); err != nil {
			return nil, err
		}
	}
	if bn := f["blockedImages"]; bn != nil {
		if s.BlockedImages, err = p.images(bn, path+".blockedImages", true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// images reads additionalImages (objects with name) or blockedImages (objects
// or plain strings; a repository without tag blocks all of it).
func (p *parser) images(n *yaml.Node, path string, blocked bool) ([]Image, error) {
	items, err := p.list(n, path)
	if err != nil {
		return nil, err
	}
	var out []Image
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		var img Image
		img.Line = it.Line
		if blocked && it.Kind == yaml.ScalarNode {
			if err := p.str(it, ip, &img.Name); err != nil {
				return nil, err
			}
		} else {
			allowed := []string{"name"}
			if !blocked {
				allowed = append(allowed, "targetRepo", "targetTag", "platforms")
			}
			f, err := p.mapping(it, ip, allowed...)
			if err != nil {
				return nil, err
			}
			if err := p.additionalTarget(f, ip, &img); err != nil {
				return nil, err
			}
			nn := f["name"]
			if nn == nil {
				return nil, p.errf(it, ip+".name", "add name: registry/repository:tag", "missing")
			}
			if err := p.str(nn, ip+".name", &img.Name); err != nil {
				return nil, err
			}
		}
		if err := p.reference(it, ip+".name", img.Name, blocked); err != nil {
			if !blocked || img.Name == "" {
				return nil, err
			}
			if err := p.blockedPattern(it, ip+".name", &img); err != nil {
				return nil, err
			}
		}
		out = append(out, img)
	}
	return out, nil
}

func (p *parser) reference(n *yaml.Node, path, s string, repoOK bool) error {
	if s == "" {
		return p.errf(n, path, "write registry/repository:tag or registry/repository@sha256:...", "empty image name")
	}
	const fix = "write registry/repository:tag or registry/repository@sha256:<64 hex> in lowercase"
	_, err := name.ParseReference(s, name.StrictValidation)
	if err != nil && repoOK {
		_, err = name.NewRepository(s, name.StrictValidation)
	}
	if err != nil {
		_, err = name.ParseReference(s, name.StrictValidation)
		return p.errf(n, path, fix, "bad image reference %q (%v)", s, err)
	}
	// The name package checks characters only: "host.example/../x" passes
	// it. The distribution grammar (path components, tags) is refs'.
	if _, _, _, _, err := refs.Split(s); err != nil {
		return p.errf(n, path, fix, "%v", err)
	}
	return nil
}

var archs = map[string]bool{"amd64": true, "arm64": true, "ppc64le": true, "s390x": true, "multi": true}

func (p *parser) platform(n *yaml.Node, path string) (*Platform, error) {
	f, err := p.mapping(n, path, "architectures", "channels", "graph", "release", "kubeVirtContainer", "platforms")
	if err != nil {
		return nil, err
	}
	pl := &Platform{}
	if k := f["kubeVirtContainer"]; k != nil {
		if err := p.boolean(k, path+".kubeVirtContainer", &pl.KubeVirtContainer); err != nil {
			return nil, err
		}
	}
	if rn := f["release"]; rn != nil {
		if err := p.str(rn, path+".release", &pl.Release); err != nil {
			return nil, err
		}
		if err := p.reference(rn, path+".release", pl.Release, false); err != nil {
			return nil, err
		}
		if f["channels"] != nil {
			return nil, p.errf(rn, path+".release", "keep release (one payload) or channels, not both", "release names one release payload; it cannot be combined with channels")
		}
		if a := f["architectures"]; a != nil {
			return nil, p.errf(a, path+".architectures", "drop architectures: the payload release names is of one architecture (or multi)", "architectures does not apply to release")
		}
	}
	if g := f["graph"]; g != nil {
		if err := p.boolean(g, path+".graph", &pl.Graph); err != nil {
			return nil, err
		}
	}
	if an := f["architectures"]; an != nil {
		items, err := p.list(an, path+".architectures")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			var a string
			ap := fmt.Sprintf("%s.architectures[%d]", path, i)
			if err := p.str(it, ap, &a); err != nil {
				return nil, err
			}
			if !archs[a] {
				return nil, p.errf(it, ap, "use amd64, arm64, ppc64le, s390x or multi", "unknown architecture %q", a)
			}
			pl.Architectures = append(pl.Architectures, a)
		}
	}
	if v := f["platforms"]; v != nil {
		if f["architectures"] != nil {
			return nil, p.errf(v, path+".platforms", "keep platforms (sparse filtering of the multi payload) or architectures (one payload per architecture), not both", "platform.platforms and platform.architectures cannot be used together")
		}
		if pl.Platforms, err = p.platforms(v, path+".platforms"); err != nil {
			return nil, err
		}
		// oc-mirror mirrors the multi-architecture payload for platforms,
		// sparse: only these platforms of it and of its components.
		pl.Architectures = []string{"multi"}
	}
	if len(pl.Architectures) == 0 {
		pl.Architectures = []string{"amd64"}
	}
	if pl.Release != "" {
		return pl, nil
	}
	cn := f["channels"]
	if cn == nil && (f["architectures"] != nil || f["platforms"] != nil || f["graph"] != nil) {
		// oc-mirror accepts a platform without channels: no release.
		p.warnf(n, path, "no channels and no release: no release payload is planned; architectures and platforms select release payloads only")
		return pl, nil
	}
	if cn == nil {
		return nil, p.errf(n, path+".channels", "add channels: [{name: stable-4.15}], or release: <payload image>", "missing")
	}
	items, err := p.list(cn, path+".channels")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, it := range items {
		cp := fmt.Sprintf("%s.channels[%d]", path, i)
		cf, err := p.mapping(it, cp, "name", "minVersion", "maxVersion", "type", "full", "shortestPath")
		if err != nil {
			return nil, err
		}
		ch := PlatformChannel{Line: it.Line}
		if cf["name"] == nil {
			return nil, p.errf(it, cp+".name", "add name: stable-4.15", "missing")
		}
		if err := p.str(cf["name"], cp+".name", &ch.Name); err != nil {
			return nil, err
		}
		if ch.Name == "" {
			return nil, p.errf(cf["name"], cp+".name", "add name: stable-4.15", "empty channel name")
		}
		if err := p.versions(cf, cp, &ch.MinVersion, &ch.MaxVersion); err != nil {
			return nil, err
		}
		for k, out := range map[string]*bool{"full": &ch.Full, "shortestPath": &ch.ShortestPath} {
			if v := cf[k]; v != nil {
				if err := p.boolean(v, cp+"."+k, out); err != nil {
					return nil, err
				}
			}
		}
		if ch.Full && (ch.MinVersion != "" || ch.MaxVersion != "") {
			return nil, p.errf(it, cp+".full", "drop full, or drop minVersion/maxVersion", "full: true already means the channel's first to last release; it cannot be combined with minVersion/maxVersion")
		}
		ch.Type = "ocp"
		if t := cf["type"]; t != nil {
			if err := p.str(t, cp+".type", &ch.Type); err != nil {
				return nil, err
			}
			if ch.Type != "ocp" && ch.Type != "okd" {
				return nil, p.errf(t, cp+".type", "use ocp or okd", "unknown platform type %q", ch.Type)
			}
		}
		if seen[ch.Name+" "+ch.Type] {
			return nil, p.errf(it, cp+".name", "merge the two entries", "channel %s listed twice", ch.Name)
		}
		seen[ch.Name+" "+ch.Type] = true
		pl.Channels = append(pl.Channels, ch)
	}
	return pl, nil
}

func (p *parser) versions(f map[string]*yaml.Node, path string, min, max *string) error {
	if n := f["minVersion"]; n != nil {
		if err := p.version(n, path+".minVersion", min); err != nil {
			return err
		}
	}
	if n := f["maxVersion"]; n != nil {
		if err := p.version(n, path+".maxVersion", max); err != nil {
			return err
		}
	}
	return checkMinMax(p, f["maxVersion"], path+".maxVersion", *min, *max)
}

var (
	repoPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRe    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

func (p *parser) operator(n *yaml.Node, path string) (*Operator, error) {
	f, err := p.mapping(n, path, "catalog", "full", "packages", "targetCatalog", "targetTag", "targetCatalogSourceTemplate", "skipDependencies", "platforms")
	if err != nil {
		return nil, err
	}
	op := &Operator{Line: n.Line}
	cn := f["catalog"]
	if cn == nil {
		return nil, p.errf(n, path+".catalog", "add catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15", "missing")
	}
	if err := p.str(cn, path+".catalog", &op.Catalog); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(op.Catalog, "oci://") {
		if err := p.reference(cn, path+".catalog", op.Catalog, false); err != nil {
			return nil, err
		}
	}
	if v := f["full"]; v != nil {
		if err := p.boolean(v, path+".full", &op.Full); err != nil {
			return nil, err
		}
	}
	if v := f["targetCatalog"]; v != nil {
		if err := p.str(v, path+".targetCatalog", &op.TargetCatalog); err != nil {
			return nil, err
		}
		if !repoPath.MatchString(op.TargetCatalog) {
			return nil, p.errf(v, path+".targetCatalog", "write a lowercase repository path such as my-namespace/my-catalog, without registry or tag", "%q is not a repository path", op.TargetCatalog)
		}
	}
	if v := f["targetTag"]; v != nil {
		if err := p.str(v, path+".targetTag", &op.TargetTag); err != nil {
			return nil, err
		}
		if !tagRe.MatchString(op.TargetTag) {
			return nil, p.errf(v, path+".targetTag", "use letters, digits, _ . - (128 at most)", "%q is not a valid tag", op.TargetTag)
		}
	}
	if v := f["skipDependencies"]; v != nil {
		if err := p.boolean(v, path+".skipDependencies", &op.SkipDependencies); err != nil {
			return nil, err
		}
	}
	if v := f["platforms"]; v != nil {
		if op.Platforms, err = p.platforms(v, path+".platforms"); err != nil {
			return nil, err
		}
	}
	if v := f["targetCatalogSourceTemplate"]; v != nil {
		if err := p.str(v, path+".targetCatalogSourceTemplate", &op.TargetCatalogSourceTemplate); err != nil {
			return nil, err
		}
	}
	if pn := f["packages"]; pn != nil {
		items, err := p.list(pn, path+".packages")
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for i, it := range items {
			pp := fmt.Sprintf("%s.packages[%d]", path, i)
			pk, err := p.pkg(it, pp, op.Full)
			if err != nil {
				return nil, err
			}
			if seen[pk.Name] {
				return nil, p.errf(it, pp+".name", "merge the two entries", "package %s listed twice in this catalog", pk.Name)
			}
			seen[pk.Name] = true
			op.Packages = append(op.Packages, *pk)
		}
	}
	return op, nil
}

func (p *parser) pkg(n *yaml.Node, path string, full bool) (*Package, error) {
	f, err := p.mapping(n, path, "name", "minVersion", "maxVersion", "channels", "bundles", "defaultChannel")
	if err != nil {
		return nil, err
	}
	pk := &Package{Line: n.Line}
	if f["name"] == nil {
		return nil, p.errf(n, path+".name", "add name: <package>", "missing")
	}
	if err := p.str(f["name"], path+".name", &pk.Name); err != nil {
		return nil, err
	}
	if pk.Name == "" {
		return nil, p.errf(f["name"], path+".name", "add the package name", "empty package name")
	}
	if err := p.versions(f, path, &pk.MinVersion, &pk.MaxVersion); err != nil {
		return nil, err
	}
	pkgRange := pk.MinVersion != "" || pk.MaxVersion != ""
	if cn := f["channels"]; cn != nil {
		items, err := p.list(cn, path+".channels")
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for i, it := range items {
			cp := fmt.Sprintf("%s.channels[%d]", path, i)
			cf, err := p.mapping(it, cp, "name", "minVersion", "maxVersion")
			if err != nil {
				return nil, err
			}
			ch := Channel{Line: it.Line}
			if cf["name"] == nil {
				return nil, p.errf(it, cp+".name", "add name: <channel>", "missing")
			}
			if err := p.str(cf["name"], cp+".name", &ch.Name); err != nil {
				return nil, err
			}
			if ch.Name == "" {
				return nil, p.errf(cf["name"], cp+".name", "add the channel name", "empty channel name")
			}
			if seen[ch.Name] {
				return nil, p.errf(it, cp+".name", "merge the two entries", "channel %s listed twice", ch.Name)
			}
			seen[ch.Name] = true
			if err := p.versions(cf, cp, &ch.MinVersion, &ch.MaxVersion); err != nil {
				return nil, err
			}
			if full && (ch.MinVersion != "" || ch.MaxVersion != "") {
				return nil, p.errf(it, cp, "drop full: true on the catalog, or the channel's minVersion/maxVersion", "package %s: full: true cannot be combined with channel minVersion/maxVersion", pk.Name)
			}
			pk.Channels = append(pk.Channels, ch)
		}
		// oc-mirror's rule: a package range applies to each named channel,
		// but not beside channel ranges.
		if pkgRange {
			for i, ch := range pk.Channels {
				if ch.MinVersion != "" || ch.MaxVersion != "" {
					return nil, p.errf(items[i], fmt.Sprintf("%s.channels[%d]", path, i), "keep the range on the package or on the channels, not both", "package %s: package-level minVersion/maxVersion cannot be combined with channel minVersion/maxVersion", pk.Name)
				}
			}
		}
	}
	if dn := f["defaultChannel"]; dn != nil {
		if err := p.str(dn, path+".defaultChannel", &pk.DefaultChannel); err != nil {
			return nil, err
		}
		if pk.DefaultChannel == "" {
			return nil, p.errf(dn, path+".defaultChannel", "name one of the package's channels, or remove the field", "empty channel name")
		}
	}
	if bn := f["bundles"]; bn != nil {
		if len(pk.Channels) > 0 {
			return nil, p.errf(bn, path+".bundles", "list either channels or bundles", "package %s: channels and bundles cannot be combined", pk.Name)
		}
		if pkgRange {
			return nil, p.errf(bn, path+".bundles", "list either bundles or minVersion/maxVersion", "package %s: bundles cannot be combined with minVersion/maxVersion", pk.Name)
		}
		items, err := p.list(bn, path+".bundles")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			bp := fmt.Sprintf("%s.bundles[%d]", path, i)
			bf, err := p.mapping(it, bp, "name")
			if err != nil {
				return nil, err
			}
			b := Bundle{Line: it.Line}
			if bf["name"] == nil {
				return nil, p.errf(it, bp+".name", "add name: <bundle>", "missing")
			}
			if err := p.str(bf["name"], bp+".name", &b.Name); err != nil || b.Name == "" {
				return nil, p.errf(it, bp+".name", "add the bundle name as the catalog spells it", "empty bundle name")
			}
			pk.Bundles = append(pk.Bundles, b)
		}
	}
	if full && pkgRange {
		return nil, p.errf(n, path, "drop full: true on the catalog, or the package's minVersion/maxVersion", "package %s: full: true cannot be combined with minVersion/maxVersion", pk.Name)
	}
	return pk, nil
}
