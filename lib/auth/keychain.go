// Package auth finds registry credentials in containers-auth.json(5) files
// and Docker's config.json, the way podman, skopeo and oc do, and offers them
// as a go-containerregistry authn.Keychain.
//
// # Files
//
// Files lists the files to read. An explicit file (--authfile) is the only one
// read; otherwise, in this order and only those that exist:
//
//	$REGISTRY_AUTH_FILE
//	${XDG_RUNTIME_DIR}/containers/auth.json
//	$HOME/.config/containers/auth.json
//	$HOME/.docker/config.json
//
// # Format
//
//	{"auths": {"KEY": {"auth": "base64(user:password)"}
//	                | {"username": "u", "password": "p"}
//	                | {"identitytoken": "oauth refresh token"}},
//	 "credHelpers": {"registry": "helper"},
//	 "credsStore": "helper"}
//
// KEY is a registry ("quay.io", "localhost:5000"), a namespace ("quay.io/ns")
// or a repository ("quay.io/ns/app"). Legacy Docker keys are understood too,
// at registry level only, as containers-auth.json(5) does: "https://quay.io/v1/",
// "http://quay.io", and for Docker Hub "https://index.docker.io/v1/";
// "docker.io", "index.docker.io" and "registry-1.docker.io" all name Docker Hub.
// Keys and registry names are compared case-insensitively.
//
// # Lookup
//
// Files are consulted in order and the first file with a matching entry wins.
// Within one file the most specific match wins:
//
//  1. auths "registry/ns/repo", then "registry/ns" (every namespace level,
//     deepest first);
//  2. credHelpers["registry"]: `docker-credential-<helper> get`;
//  3. auths "registry" (exact key first, then legacy forms);
//  4. credsStore: `docker-credential-<helper> get`.
//
// Helpers are registry-wide (they know no namespaces), so a namespace or
// repository entry beats them; at registry level a credHelpers entry beats an
// auths entry, as in Docker and containers/image. An auths entry without any
// credential ({}, the marker `docker login` writes when a helper stores the
// secret) does not match, and a helper that answers "credentials not found"
// does not match either: the lookup goes on. No match anywhere is
// authn.Anonymous.
//
// # Secrets
//
// Credentials never appear in errors, in Source, or in the String of the
// returned authenticators. A bad "auth" value is reported with the file and
// the key only, and only when that entry is the one selected, so a broken
// entry for one registry does not stop work with another.
package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// HelperTimeout bounds one run of a docker-credential-<helper>.
var HelperTimeout = time.Minute

// dockerHub is the normalised name of Docker Hub in keys and lookups;
// dockerHubServer is the server name credential helpers store it under.
const (
	dockerHub       = "docker.io"
	dockerHubServer = "https://index.docker.io/v1/"
)

// Files returns the auth files to consult, in order. A non-empty explicit
// file (--authfile) is returned alone, whether or not it exists (NewKeychain
// reports a missing one). Otherwise: $REGISTRY_AUTH_FILE,
// ${XDG_RUNTIME_DIR}/containers/auth.json, $HOME/.config/containers/auth.json
// and $HOME/.docker/config.json, those that exist, each once.
func Files(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	var cands []string
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		cands = append(cands, f)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		cands = append(cands, filepath.Join(d, "containers", "auth.json"))
	}
	if h := os.Getenv("HOME"); h != "" {
		cands = append(cands,
			filepath.Join(h, ".config", "containers", "auth.json"),
			filepath.Join(h, ".docker", "config.json"))
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range cands {
		c := filepath.Clean(f)
		if seen[c] {
			continue
		}
		seen[c] = true
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			out = append(out, f)
		}
	}
	return out
}

// entryJSON is one "auths" value.
type entryJSON struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

func (e entryJSON) empty() bool {
	return e.Auth == "" && e.Username == "" && e.Password == "" && e.IdentityToken == ""
}

type fileJSON struct {
	Auths       map[string]entryJSON `json:"auths"`
	CredHelpers map[string]string    `json:"credHelpers"`
	CredsStore  string               `json:"credsStore"`
}

// keyed is an auths entry under its normalised key, with the key as written.
type keyed struct {
	key    string // as written in the file
	legacy bool   // written as a URL or a Docker Hub alias
	entry  entryJSON
}

type helperRef struct {
	key  string // as written in credHelpers
	name string
}

// authFile is one parsed file, indexed by normalised keys.
type authFile struct {
	path        string
	auths       map[string]keyed
	credHelpers map[string]helperRef
	credsStore  string
}

// Keychain resolves credentials from auth files. It implements
// authn.Keychain and authn.ContextKeychain and is safe for concurrent use.
// The zero value (and a nil *Keychain) resolves everything to anonymous.
type Keychain struct {
	files []*authFile

	mu      sync.Mutex
	helpers map[string]helperAnswer // "helper\x00server" -> answer
}

var (
	_ authn.Keychain        = (*Keychain)(nil)
	_ authn.ContextKeychain = (*Keychain)(nil)
)

type helperAnswer struct {
	cfg   authn.AuthConfig
	found bool
}

// NewKeychain reads Files(explicit). An explicit file that does not exist or
// cannot be read or parsed is an error naming it; so is a file of the default
// list that cannot be read or parsed. JSON errors carry the line and column.
// An empty file holds no credentials.
func NewKeychain(explicit string) (*Keychain, error) {
	k := &Keychain{}
	for _, p := range Files(explicit) {
		b, err := capread.File(p, capread.Config)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist) && explicit != "":
				return nil, fmt.Errorf("auth file %s does not exist; fix: pass an existing file to --authfile (podman login --authfile FILE or skopeo login --authfile FILE writes one)", p)
			case errors.Is(err, fs.ErrNotExist):
				continue // removed since Files looked
			}
			return nil, fmt.Errorf("auth file %s: %w", p, unwrapPath(err))
		}
		f, err := parse(p, b)
		if err != nil {
			return nil, err
		}
		k.files = append(k.files, f)
	}
	return k, nil
}

// unwrapPath drops the *fs.PathError wrapper (its path is already named).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parse(path string, b []byte) (*authFile, error) {
	f := &authFile{path: path, auths: map[string]keyed{}, credHelpers: map[string]helperRef{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	var raw fileJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, jsonError(path, b, err)
	}
	// Sorted keys make the choice between keys that normalise alike
	// ("docker.io" and "https://index.docker.io/v1/") the same on every run:
	// a key written in containers-auth.json form beats a legacy one.
	keys := make([]string, 0, len(raw.Auths))
	for key := range raw.Auths {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		e := raw.Auths[key]
		if e.empty() {
			continue
		}
		n, legacy := normalizeKey(key)
		if n == "" {
			continue
		}
		if old, ok := f.auths[n]; ok && (!old.legacy || legacy) {
			continue
		}
		f.auths[n] = keyed{key: key, legacy: legacy, entry: e}
	}
	for key, h := range raw.CredHelpers {
		if h == "" {
			continue
		}
		n, _ := normalizeKey(key)
		if i := strings.IndexByte(n, '/'); i >= 0 {
			n = n[:i] // helpers are registry-wide
		}
		if old, ok := f.credHelpers[n]; ok && old.key < key {
			continue
		}
		f.credHelpers[n] = helperRef{key: key, name: h}
	}
	f.credsStore = raw.CredsStore
	return f, nil
}

// jsonError names the file and the position; the messages of encoding/json
// quote at most one character of the input, never a value.
func jsonError(path string, b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(b, se.Offset)
		return fmt.Errorf("auth file %s: line %d, column %d: not valid JSON: %s; fix: correct the file or log in again to rewrite it", path, line, col, se.Error())
	case errors.As(err, &te):
		line, col := position(b, te.Offset)
		what := "the document"
		if te.Field != "" {
			what = fmt.Sprintf("%q", te.Field)
		}
		return fmt.Errorf("auth file %s: line %d, column %d: %s is a JSON %s, want %s; fix: correct the file or log in again to rewrite it", path, line, col, what, te.Value, jsonKind(te.Type.String()))
	}
	return fmt.Errorf("auth file %s: not a containers-auth.json file: %v", path, err)
}

func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "auth."):
		return "an object"
	}
	return goType
}

// position turns encoding/json's byte offset (bytes read when the error was
// found) into a 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	p := int(off)
	switch {
	case p >= len(b):
		p = len(b) // end of input
	case p > 0:
		p-- // the offending byte
	}
	before := b[:p]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = 1 + p - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// normalizeKey brings an auths or credHelpers key to the form lookups use:
// lower case, no trailing slash, Docker Hub as "docker.io". Keys written as
// URLs ("https://quay.io/v1/", "http://quay.io") are registry-level keys, as
// in containers-auth.json(5): only their host is kept. legacy reports a URL
// key or a Docker Hub alias.
func normalizeKey(key string) (norm string, legacy bool) {
	k := strings.ToLower(strings.TrimSpace(key))
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(k, scheme); ok {
			k, _, _ = strings.Cut(rest, "/")
			legacy = true
			break
		}
	}
	k = strings.Trim(k, "/")
	host, rest, hasPath := strings.Cut(k, "/")
	if h := normalizeHost(host); h != host {
		host, legacy = h, true
	}
	if hasPath {
		return host + "/" + rest, legacy
	}
	return host, legacy
}

func normalizeHost(h string) string {
	h = strings.ToLower(h)
	switch h {
	case "index.docker.io", "registry-1.docker.io":
		return dockerHub
	}
	return h
}

// target is what a lookup is for: the normalised registry and the
// repository keys from the most specific down to (not including) the
// registry.
type target struct {
	registry string
	scoped   []string // "reg/ns/repo", "reg/ns"
	server   string   // what helpers are asked about
}

func newTarget(r authn.Resource) target {
	reg := r.RegistryStr()
	t := target{registry: normalizeHost(reg), server: reg}
	if t.registry == dockerHub {
		t.server = dockerHubServer
	}
	full := r.String()
	if rest, ok := strings.CutPrefix(full, reg+"/"); ok {
		full = t.registry + "/" + rest
	}
	n, _ := normalizeKey(full)
	if host, _, ok := strings.Cut(n, "/"); ok && host == t.registry {
		for k := n; len(k) > len(t.registry); {
			t.scoped = append(t.scoped, k)
			k = k[:strings.LastIndexByte(k, '/')]
		}
	}
	return t
}

// match is the entry a lookup settled on.
type match struct {
	file   *authFile
	kind   string // "auths", "credHelpers", "credsStore"
	key    string // key as written ("" for credsStore)
	helper string
	cfg    authn.AuthConfig
}

func (m *match) describe() string {
	switch m.kind {
	case "auths":
		return fmt.Sprintf("%s: auths[%q]", m.file.path, m.key)
	case "credHelpers":
		return fmt.Sprintf("%s: credHelpers[%q] (docker-credential-%s)", m.file.path, m.key, m.helper)
	}
	return fmt.Sprintf("%s: credsStore (docker-credential-%s)", m.file.path, m.helper)
}

// lookup runs the rules of the package comment. A nil match with a nil
// error is anonymous.
func (k *Keychain) lookup(ctx context.Context, r authn.Resource) (*match, error) {
	if k == nil {
		return nil, nil
	}
	t := newTarget(r)
	for _, f := range k.files {
		for _, key := range t.scoped {
			if e, ok := f.auths[key]; ok {
				return f.fromEntry(e)
			}
		}
		if h, ok := f.credHelpers[t.registry]; ok {
			m, err := k.fromHelper(ctx, f, "credHelpers", h.key, h.name, t.server)
			if m != nil || err != nil {
				return m, err
			}
		}
		if e, ok := f.auths[t.registry]; ok {
			return f.fromEntry(e)
		}
		if f.credsStore != "" {
			m, err := k.fromHelper(ctx, f, "credsStore", "", f.credsStore, t.server)
			if m != nil || err != nil {
				return m, err
			}
		}
	}
	return nil, nil
}

func (f *authFile) fromEntry(e keyed) (*match, error) {
	m := &match{file: f, kind: "auths", key: e.key}
	if e.entry.Auth != "" {
		raw, err := decodeBase64(e.entry.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth file %s: auths[%q]: \"auth\" is not valid base64; fix: log in again (podman login / docker login) or correct the entry", f.path, e.key)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("auth file %s: auths[%q]: \"auth\" does not decode to user:password; fix: log in again (podman login / docker login) or correct the entry", f.path, e.key)
		}
		m.cfg.Username, m.cfg.Password = user, strings.Trim(pass, "\x00")
	} else {
		m.cfg.Username, m.cfg.Password = e.entry.Username, e.entry.Password
	}
	m.cfg.IdentityToken = e.entry.IdentityToken
	return m, nil
}

// decodeBase64 accepts padded and unpadded standard base64.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// fromHelper asks docker-credential-<name> about server. A helper that
// knows nothing gives a nil match and no error.
func (k *Keychain) fromHelper(ctx context.Context, f *authFile, kind, key, name, server string) (*match, error) {
	where := kind
	if key != "" {
		where = fmt.Sprintf("%s[%q]", kind, key)
	}
	ck := name + "\x00" + server
	k.mu.Lock()
	ans, cached := k.helpers[ck]
	k.mu.Unlock()
	if !cached {
		var err error
		ans, err = runHelper(ctx, name, server)
		if err != nil {
			return nil, fmt.Errorf("auth file %s: %s: %w", f.path, where, err)
		}
		k.mu.Lock()
		if k.helpers == nil {
			k.helpers = map[string]helperAnswer{}
		}
		k.helpers[ck] = ans
		k.mu.Unlock()
	}
	if !ans.found {
		return nil, nil
	}
	return &match{file: f, kind: kind, key: key, helper: name, cfg: ans.cfg}, nil
}

// runHelper runs `docker-credential-<name> get` with server on stdin. Its
// output is never quoted in errors: it may hold the secret.
func runHelper(ctx context.Context, name, server string) (helperAnswer, error) {
	bin := "docker-credential-" + name
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return helperAnswer{}, fmt.Errorf("credential helper name %q is not a plain name; fix: name the helper as docker-credential-NAME is called, e.g. \"pass\"", name)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return helperAnswer{}, fmt.Errorf("credential helper %s not found on $PATH; fix: install %s or remove the entry", bin, bin)
	}
	ctx, cancel := context.WithTimeout(ctx, HelperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "get")
	cmd.Stdin = strings.NewReader(server)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if strings.Contains(strings.ToLower(out.String()+errb.String()), "credentials not found") {
			return helperAnswer{}, nil
		}
		if ctx.Err() != nil {
			return helperAnswer{}, fmt.Errorf("credential helper %s for %s did not answer within %s", bin, server, HelperTimeout)
		}
		return helperAnswer{}, fmt.Errorf("credential helper %s for %s failed (%v); fix: run `echo %s | %s get` to see its message", bin, server, err, server, bin)
	}
	var c struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &c); err != nil {
		return helperAnswer{}, fmt.Errorf("credential helper %s for %s: answer is not the expected JSON {\"Username\",\"Secret\"}", bin, server)
	}
	if c.Username == "" && c.Secret == "" {
		return helperAnswer{}, nil
	}
	if c.Username == "<token>" {
		return helperAnswer{found: true, cfg: authn.AuthConfig{IdentityToken: c.Secret}}, nil
	}
	return helperAnswer{found: true, cfg: authn.AuthConfig{Username: c.Username, Password: c.Secret}}, nil
}

// Resolve implements authn.Keychain: the credentials of the first file with
// a matching entry, or authn.Anonymous. r.String() is "registry/ns/repo" for
// a repository (or the registry alone), r.RegistryStr() the registry.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain; ctx bounds credential
// helpers.
func (k *Keychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	m, err := k.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return authn.Anonymous, nil
	}
	return &Credential{source: m.describe(), cfg: m.cfg}, nil
}

// Source tells which file and key answer for r, for debug logs:
// "/home/u/.docker/config.json: auths[\"quay.io/ns\"]",
// "FILE: credHelpers[\"quay.io\"] (docker-credential-pass)", or "anonymous".
// It never holds a secret. It runs credential helpers as Resolve does (their
// answers are cached).
func (k *Keychain) Source(r authn.Resource) string {
	m, err := k.lookup(context.Background(), r)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case m == nil:
		if k == nil || len(k.files) == 0 {
			return "anonymous (no auth file)"
		}
		return "anonymous (no entry in " + strings.Join(k.Paths(), ", ") + ")"
	}
	return m.describe()
}

// Paths lists the files the keychain read, in lookup order.
func (k *Keychain) Paths() []string {
	if k == nil {
		return nil
	}
	out := make([]string, len(k.files))
	for i, f := range k.files {
		out[i] = f.path
	}
	return out
}

// String names the files, never their contents.
func (k *Keychain) String() string {
	return "auth.Keychain(" + strings.Join(k.Paths(), ", ") + ")"
}

// Credential is what Resolve returns when an entry matched. Its String and
// GoString name where it came from, never the secret.
type Credential struct {
	source string
	cfg    authn.AuthConfig
}

var _ authn.Authenticator = (*Credential)(nil)

// Authorization implements authn.Authenticator.
func (c *Credential) Authorization() (*authn.AuthConfig, error) {
	cfg := c.cfg
	return &cfg, nil
}

// Source is the file and key the credential came from.
func (c *Credential) Source() string { return c.source }

// String is "credentials from FILE: KEY".
func (c *Credential) String() string { return "credentials from " + c.source }

// GoString keeps %#v free of secrets too.
func (c *Credential) GoString() string { return "&auth.Credential{" + c.source + "}" }
