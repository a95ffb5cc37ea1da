// Package refs names images in the mirror: where a source image lands under
// the mirror root (Destination), how a docker://host[:port][/prefix] target is
// read (ParseMirror), and how --max-nested-paths folds deep repositories
// (Mirror.Repo).
//
// Parsing goes through go-containerregistry's name package with
// name.WeakValidation for sources, which people write short ("alpine:3" is
// docker.io/library/alpine:3; a missing tag is "latest"), and with
// name.StrictValidation where nothing may be implied: mirror hosts and
// destinations ("path:tag" must name its tag). The name package checks
// characters and lengths only, so this package also applies the reference
// grammar of the distribution spec: path components
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
package refs

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is the registry name Split reports for Docker Hub (written
// "docker.io", "index.docker.io" or not at all).
const DockerHub = "docker.io"

var (
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE         = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hostLabel     = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)
)

// Dest is a repository path and tag relative to the mirror root.
type Dest struct {
	Path string
	Tag  string
}

// String is "path:tag", the record's destination field.
func (d Dest) String() string { return d.Path + ":" + d.Tag }

// Split parses a source image reference into its registry, repository path,
// tag and digest. A leading "docker://" is allowed; other transports are not.
// Sources are parsed with name.WeakValidation: Docker Hub short names get
// their registry ("docker.io", also for "index.docker.io") and "library/"
// namespace, and a reference with neither tag nor digest gets tag "latest".
// A reference by digest only has tag "". With both ("repo:v1@sha256:..."),
// both are returned. Path components and tags must follow the distribution
// reference grammar.
func Split(source string) (registry, path, tag, digest string, err error) {
	s, hadScheme := strings.CutPrefix(source, "docker://")
	if !hadScheme {
		if i := strings.Index(s, "://"); i >= 0 {
			return "", "", "", "", fmt.Errorf("image reference %q: transport %q is not supported here; fix: write registry/path[:tag][@digest] (docker:// may prefix it)", source, s[:i+3])
		}
	}
	if s == "" || strings.TrimSpace(s) != s {
		return "", "", "", "", fmt.Errorf("bad image reference %q: empty or surrounded by spaces", source)
	}
	ref, perr := name.ParseReference(s, name.WeakValidation)
	if perr != nil {
		return "", "", "", "", fmt.Errorf("bad image reference %q: %w", source, perr)
	}
	repo := ref.Context()
	registry = repo.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = DockerHub
	}
	path = repo.RepositoryStr()
	for _, c := range strings.Split(path, "/") {
		if !pathComponent.MatchString(c) {
			return "", "", "", "", fmt.Errorf("bad image reference %q: path component %q must be lowercase letters and digits separated by '.', '_', '__' or '-'", source, c)
		}
	}
	tag = TagOf(s)
	if d, ok := ref.(name.Digest); ok {
		digest = d.DigestStr()
	} else if tag == "" {
		tag = ref.Identifier() // the default, "latest"
	}
	if tag != "" && !tagRE.MatchString(tag) {
		return "", "", "", "", fmt.Errorf("bad image reference %q: tag %q must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'", source, tag)
	}
	return registry, path, tag, digest, nil
}

// Destination maps a source reference to its place under the mirror root:
// the source's repository path without its registry host, and a tag.
//
//	registry.redhat.io/ubi9/ubi:latest       -> ubi9/ubi, latest
//	quay.io/ns/app@sha256:<hex>              -> ns/app, DigestTag("sha256:<hex>")
//	quay.io/ns/app:v1@sha256:<hex>           -> ns/app, v1 (the digest is what is copied)
//	alpine:3                                 -> library/alpine, 3
func Destination(source string) (Dest, error) {
	_, path, tag, digest, err := Split(source)
	if err != nil {
		return Dest{}, err
	}
	if tag == "" {
		tag = DigestTag(digest)
	}
	return Dest{Path: path, Tag: tag}, nil
}

// TagOf is the tag written in a reference ("repo:tag" or
// "repo:tag@sha256:..."), or "" when none is written. It does not validate.
func TagOf(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	colon, slash := strings.LastIndexByte(s, ':'), strings.LastIndexByte(s, '/')
	if colon < 0 || colon < slash {
		return ""
	}
	return s[colon+1:]
}

// DigestTag is the tag given to images known only by digest: the digest with
// its ':' replaced by '-' ("sha256-<64 hex>"), the same on every run, as
// oc-mirror v2 names them. Characters a tag cannot hold become '_', and a
// result longer than 128 characters (sha512) is cut to 127, as oc-mirror
// does, so the result is always a valid tag for a valid digest.
func DigestTag(digest string) string {
	t := []byte(strings.Replace(digest, ":", "-", 1))
	for i, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			t[i] = '_'
		}
	}
	if len(t) > 128 {
		t = t[:127]
	}
	return string(t)
}

// SplitDestination splits a record's "path:tag" destination, checking both
// (name.StrictValidation: the tag must be written).
func SplitDestination(s string) (path, tag string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.Contains(s[i:], "/") {
		return "", "", fmt.Errorf("destination %q is not repository:tag", s)
	}
	path, tag = s[:i], s[i+1:]
	if _, err := name.NewTag("example.com/"+path+":"+tag, name.StrictValidation); err != nil {
		return "", "", fmt.Errorf("destination %q: %v", s, err)
	}
	if err := checkPath(path); err != nil {
		return "", "", fmt.Errorf("destination %q: %v", s, err)
	}
	if !tagRE.MatchString(tag) {
		return "", "", fmt.Errorf("destination %q: tag %q must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'", s, tag)
	}
	return path, tag, nil
}

func checkPath(p string) error {
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			return fmt.Errorf("empty path component in %q", p)
		}
		if !pathComponent.MatchString(c) {
			return fmt.Errorf("path component %q must be lowercase letters and digits separated by '.', '_', '__' or '-'", c)
		}
	}
	return nil
}

// Mirror is a parsed docker://host[:port][/prefix] target.
type Mirror struct {
	Registry string // host[:port]
	Prefix   string // path under the host, without slashes at the ends; may be ""
}

// String is the target as docker://host[:port][/prefix].
func (m Mirror) String() string {
	if m.Prefix == "" {
		return "docker://" + m.Registry
	}
	return "docker://" + m.Registry + "/" + m.Prefix
}

// ParseMirror reads a docker://host[:port][/prefix] target. The host is a
// DNS name or IP address (IPv6 in brackets) with an optional port 1-65535.
// It must hold a '.' or a port, or be "localhost": image references
// ("host/ns/app:1") read a first component without them as a Docker Hub
// namespace, so such a host could not be pushed to. The prefix is path components of the reference grammar (lowercase). A
// trailing slash is dropped. A tag or digest is refused: the target names
// where repositories go, not an image.
func ParseMirror(s string) (Mirror, error) {
	const fix = "fix: write docker://host[:port][/path]"
	rest, ok := strings.CutPrefix(s, "docker://")
	if !ok {
		if i := strings.Index(s, "://"); i >= 0 {
			return Mirror{}, fmt.Errorf("target %q: scheme %q is not supported, the mirror must be docker://; %s", s, s[:i+3], fix)
		}
		return Mirror{}, fmt.Errorf("target %q: missing docker:// scheme; %s", s, fix)
	}
	rest = strings.TrimSuffix(rest, "/")
	host, prefix, _ := strings.Cut(rest, "/")
	if host == "" {
		return Mirror{}, fmt.Errorf("target %q: no registry host; %s", s, fix)
	}
	if err := checkHost(host); err != nil {
		return Mirror{}, fmt.Errorf("target %q: bad registry host %q: %v; %s", s, host, err, fix)
	}
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
		return Mirror{}, fmt.Errorf("target %q: bad registry host %q: %v; %s", s, host, err, fix)
	}
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return Mirror{}, fmt.Errorf("target %q: host %q has no '.' or port, so image references would read it as a Docker Hub namespace; fix: write docker://%s:PORT or use its full domain name", s, host, host)
	}
	if prefix != "" {
		if strings.ContainsAny(prefix, ":@") {
			return Mirror{}, fmt.Errorf("target %q: a mirror target names a registry and path, not an image: drop the :tag or @digest; %s", s, fix)
		}
		if err := checkPath(prefix); err != nil {
			return Mirror{}, fmt.Errorf("target %q: %v; %s", s, err, fix)
		}
	}
	return Mirror{Registry: host, Prefix: prefix}, nil
}

// checkHost accepts name[:port], ipv4[:port] and [ipv6][:port].
func checkHost(h string) error {
	hostname, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("unclosed '[' of an IPv6 address")
		}
		if ip := net.ParseIP(h[1:end]); ip == nil || ip.To4() != nil {
			return fmt.Errorf("%q is not an IPv6 address", h[1:end])
		}
		rest := h[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return fmt.Errorf("unexpected %q after the IPv6 address", rest)
			}
			port = p
			if port == "" {
				return fmt.Errorf("empty port")
			}
		}
		hostname = ""
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		hostname, port = h[:i], h[i+1:]
		if port == "" {
			return fmt.Errorf("empty port")
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	if hostname != "" {
		if len(hostname) > 253 {
			return fmt.Errorf("host name longer than 253 characters")
		}
		for _, l := range strings.Split(hostname, ".") {
			if len(l) > 63 || !hostLabel.MatchString(l) {
				return fmt.Errorf("%q is not a valid host name label (letters, digits and inner '-')", l)
			}
		}
	}
	return nil
}

// Repo joins the prefix and path into the repository path under the mirror
// host, and applies --max-nested-paths.
//
// With maxNested > 0, a repository path (prefix + path; the registry host
// does not count) of more than maxNested components keeps its first
// maxNested-1 components and joins the remaining ones with "-" into the last,
// so the result has exactly maxNested components. 0 (or less) is unlimited.
// Prefix "mirror", path "a/b/c/d":
//
//	maxNested 1 -> mirror-a-b-c-d
//	maxNested 2 -> mirror/a-b-c-d
//	maxNested 3 -> mirror/a/b-c-d
//	maxNested 5 -> mirror/a/b/c/d
//
// This is oc-mirror v2's rule (WithMaxNestedPaths: components after the host,
// prefix included, keep maxNested-1, join the rest with '-'), except that
// maxNested 1 gives one component where oc-mirror leaves a leading '/'.
// Folding can make two sources share a repository (a/b-c and a/b/c with
// maxNested 2); digest tags still tell their images apart, and ocm-push
// refuses a second image for a repo:tag that folding made equal.
func (m Mirror) Repo(path string, maxNested int) string {
	var parts []string
	for _, s := range []string{m.Prefix, path} {
		for _, c := range strings.Split(s, "/") {
			if c != "" {
				parts = append(parts, c)
			}
		}
	}
	if maxNested > 0 && len(parts) > maxNested {
		tail := strings.Join(parts[maxNested-1:], "-")
		parts = append(parts[:maxNested-1:maxNested-1], tail)
	}
	return strings.Join(parts, "/")
}

// Reference is the full "host[:port]/prefix/path:tag" of an image in the
// mirror, with Repo's folding.
func (m Mirror) Reference(path, tag string, maxNested int) string {
	return m.Registry + "/" + m.Repo(path, maxNested) + ":" + tag
}

// Place is where one image lands in the mirror.
type Place struct {
	Registry string // host[:port]
	Repo     string // repository under the host: prefix and path, folded (Repo)
	Tag      string
	// Ref is "host[:port]/repo:tag" (Reference): what ocm-push writes as
	// a record's target.
	Ref string
}

// RepoTag is "repo:tag" under the mirror host.
func (p Place) RepoTag() string { return p.Repo + ":" + p.Tag }

// Place is the one translation of a record's destination ("path:tag", as
// ocm-plan names it) into the mirror's repository and tag, with the prefix
// and --max-nested-paths folding: what ocm-push writes, its collision
// check claims and ocm-delete deletes.
func (m Mirror) Place(destination string, maxNested int) (Place, error) {
	path, tag, err := SplitDestination(destination)
	if err != nil {
		return Place{}, err
	}
	return Place{Registry: m.Registry, Repo: m.Repo(path, maxNested), Tag: tag, Ref: m.Reference(path, tag, maxNested)}, nil
}

// CheckTarget checks a record's target, "host[:port]/path:tag" as ocm-push
// writes it: a registry host, a path of valid components and a tag. Clusters
// get it verbatim in ImageTagMirrorSets, so nothing else may pass.
func CheckTarget(s string) error {
	host, rest, ok := strings.Cut(s, "/")
	if !ok || host == "" {
		return fmt.Errorf("%q is not host/path:tag", s)
	}
	if err := checkHost(host); err != nil {
		return fmt.Errorf("%q: bad registry host %q: %v", s, host, err)
	}
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return fmt.Errorf("%q: %q is not a registry host (no '.' or port)", s, host)
	}
	if _, _, err := SplitDestination(rest); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if _, err := name.NewTag(s, name.StrictValidation); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

// CheckRepository checks a repository path (no host, no tag) against the
// distribution grammar: "a/../b" or "a//b" never reach a URL.
func CheckRepository(p string) error {
	if p == "" {
		return fmt.Errorf("empty repository path")
	}
	return checkPath(p)
}

// DigestOf returns the digest of "repo:tag@sha256:..." or "repo@sha256:...".
func DigestOf(s string) (string, bool) {
	if d, err := name.NewDigest(s); err == nil {
		return d.DigestStr(), true
	}
	return "", false
}
