// Package refs names images in the mirror: where a source image lands under
// the mirror root, and how a docker://host/prefix target is parsed.
package refs

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Dest is a repository path and tag relative to the mirror root.
type Dest struct {
	Path string
	Tag  string
}

// String is "path:tag", the record's destination field.
func (d Dest) String() string { return d.Path + ":" + d.Tag }

// Destination maps a source reference to its place under the mirror root:
// the source's repository path without its registry host, and its tag. A
// source named only by digest gets DigestTag of that digest. Docker Hub
// short names get their library/ namespace.
func Destination(source string) (Dest, error) {
	ref, err := name.ParseReference(source)
	if err != nil {
		return Dest{}, fmt.Errorf("bad image reference %q: %w", source, err)
	}
	d := Dest{Path: ref.Context().RepositoryStr()}
	if tag := tagOf(source); tag != "" {
		d.Tag = tag
	} else if dg, ok := ref.(name.Digest); ok {
		d.Tag = DigestTag(dg.DigestStr())
	} else {
		d.Tag = ref.Identifier() // "latest" when none was written
	}
	return d, nil
}

// tagOf returns the tag written in s ("repo:tag" or "repo:tag@sha256:..."), or "".
func tagOf(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	colon, slash := strings.LastIndexByte(s, ':'), strings.LastIndexByte(s, '/')
	if colon < 0 || colon < slash {
		return ""
	}
	return s[colon+1:]
}

// TagOf is the tag written in a reference, or "".
func TagOf(s string) string { return tagOf(s) }

// DigestTag is the tag given to images known only by digest:
// "sha256-<hex>", valid as a tag and the same on every run.
func DigestTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1)
}

// SplitDestination splits a record's "path:tag" destination.
func SplitDestination(s string) (path, tag string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.Contains(s[i:], "/") {
		return "", "", fmt.Errorf("destination %q is not repository:tag", s)
	}
	path, tag = s[:i], s[i+1:]
	if _, err := name.NewTag("example.com/"+path+":"+tag, name.StrictValidation); err != nil {
		return "", "", fmt.Errorf("destination %q: %v", s, err)
	}
	return path, tag, nil
}

// Mirror is a parsed docker://host[:port][/prefix] target.
type Mirror struct {
	Registry string // host[:port]
	Prefix   string // path under the host, without slashes at the ends; may be ""
}

var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// ParseMirror reads a docker://host[:port][/prefix] target.
func ParseMirror(s string) (Mirror, error) {
	rest, ok := strings.CutPrefix(s, "docker://")
	if !ok {
		return Mirror{}, fmt.Errorf("target %q: missing docker:// scheme; fix: write docker://host[:port][/path]", s)
	}
	rest = strings.TrimRight(rest, "/")
	host, prefix, _ := strings.Cut(rest, "/")
	if host == "" {
		return Mirror{}, fmt.Errorf("target %q: no registry host; fix: write docker://host[:port][/path]", s)
	}
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil || strings.ContainsAny(host, "@:") && !validHostPort(host) {
		return Mirror{}, fmt.Errorf("target %q: bad registry host %q; fix: write docker://host[:port][/path]", s, host)
	}
	if prefix != "" {
		for _, c := range strings.Split(prefix, "/") {
			if !pathComponent.MatchString(c) {
				return Mirror{}, fmt.Errorf("target %q: path component %q must be lowercase letters, digits and . _ - separators", s, c)
			}
		}
	}
	return Mirror{Registry: host, Prefix: prefix}, nil
}

func validHostPort(h string) bool {
	host, port, ok := strings.Cut(h, ":")
	if !ok || host == "" || strings.Contains(port, ":") {
		return strings.HasPrefix(h, "[") // IPv6 literal
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return port != ""
}

// Repo joins the prefix and path. With maxNested > 0, a repository path of
// more than maxNested components keeps its first maxNested-1 components and
// joins the rest with "-" into the last, for registries that limit nesting
// (prefix "mirror", path "a/b/c/d", 3 -> "mirror/a/b-c-d").
func (m Mirror) Repo(path string, maxNested int) string {
	full := path
	if m.Prefix != "" {
		full = m.Prefix + "/" + path
	}
	if maxNested <= 0 {
		return full
	}
	parts := strings.Split(full, "/")
	if len(parts) <= maxNested {
		return full
	}
	head := parts[:maxNested-1]
	tail := strings.Join(parts[maxNested-1:], "-")
	return strings.Join(append(head, tail), "/")
}

// Reference is the full "host/prefix/path:tag" of an image in the mirror.
func (m Mirror) Reference(path, tag string, maxNested int) string {
	return m.Registry + "/" + m.Repo(path, maxNested) + ":" + tag
}
