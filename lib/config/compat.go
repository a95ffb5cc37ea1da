package config

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Fields oc-mirror 4.18-4.20 accepts beyond ocm's first set: read here so
// spec.go only gains the calls.

// warnf records that a field is read but not applied as oc-mirror applies it.
func (p *parser) warnf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w := p.file
	if line > 0 {
		w += fmt.Sprintf(":%d", line)
	}
	p.warnings = append(p.warnings, w+": "+field+": "+fmt.Sprintf(format, args...))
}

// platforms reads a list of {os, architecture} (oc-mirror's
// InstancePlatformFilter) as "os/arch" strings.
func (p *parser) platforms(n *yaml.Node, path string) ([]string, error) {
	items, err := p.list(n, path)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		f, err := p.mapping(it, ip, "os", "architecture")
		if err != nil {
			return nil, err
		}
		var os, arch string
		for k, dst := range map[string]*string{"os": &os, "architecture": &arch} {
			if f[k] == nil {
				return nil, p.errf(it, ip+"."+k, "write os: linux and architecture: amd64 (or arm64, ppc64le, s390x)", "missing")
			}
			if err := p.str(f[k], ip+"."+k, dst); err != nil {
				return nil, err
			}
			if *dst == "" || strings.ContainsAny(*dst, "/ ") {
				return nil, p.errf(f[k], ip+"."+k, "write a single word such as linux or amd64", "%q is not a platform %s", *dst, k)
			}
		}
		out = append(out, os+"/"+arch)
	}
	return out, nil
}

// blockedPattern accepts a blockedImages entry that is not an image
// reference as an unanchored regular expression (oc-mirror 4.19+ matches
// every entry with regexp.MatchString against source and destination).
func (p *parser) blockedPattern(n *yaml.Node, path string, img *Image) error {
	if _, err := regexp.Compile(img.Name); err != nil {
		return p.errf(n, path, "write an image reference (registry/repository[:tag|@digest]) or a valid regular expression (RE2 syntax, e.g. .*/unwanted/.*)", "%q is neither an image reference nor a regular expression (%v)", img.Name, err)
	}
	img.Pattern = true
	return nil
}

// additionalTarget reads additionalImages[].targetRepo/targetTag/platforms.
func (p *parser) additionalTarget(f map[string]*yaml.Node, path string, img *Image) error {
	if v := f["targetRepo"]; v != nil {
		if err := p.str(v, path+".targetRepo", &img.TargetRepo); err != nil {
			return err
		}
		if !repoPath.MatchString(img.TargetRepo) {
			return p.errf(v, path+".targetRepo", "write a lowercase repository path such as my-namespace/my-image, without registry or tag", "%q is not a repository path", img.TargetRepo)
		}
	}
	if v := f["targetTag"]; v != nil {
		if err := p.str(v, path+".targetTag", &img.TargetTag); err != nil {
			return err
		}
		if !tagRe.MatchString(img.TargetTag) {
			return p.errf(v, path+".targetTag", "use letters, digits, _ . - (128 at most)", "%q is not a valid tag", img.TargetTag)
		}
	}
	if v := f["platforms"]; v != nil {
		var err error
		if img.Platforms, err = p.platforms(v, path+".platforms"); err != nil {
			return err
		}
	}
	return nil
}
