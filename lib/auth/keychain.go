// Package auth finds registry credentials in containers-auth.json(5) files
// (and Docker's config.json), as podman, skopeo and oc do. Credentials are
// never put in errors or logs.
package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Files lists the auth files to read, in order. An explicit file (--authfile)
// is the only one read; otherwise $REGISTRY_AUTH_FILE,
// ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json and
// ~/.docker/config.json, those that exist.
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
	if h, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(h, ".config", "containers", "auth.json"), filepath.Join(h, ".docker", "config.json"))
	}
	var out []string
	for _, f := range cands {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

type entry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

type file struct {
	path        string
	Auths       map[string]entry  `json:"auths"`
	CredHelpers map[string]string `json:"credHelpers"`
	CredsStore  string            `json:"credsStore"`
}

// Keychain resolves credentials from the auth files.
type Keychain struct {
	files []*file
}

// NewKeychain reads the files Files(explicit) names. A file that is named
// explicitly but missing, or that does not parse, is an error.
func NewKeychain(explicit string) (*Keychain, error) {
	k := &Keychain{}
	for _, p := range Files(explicit) {
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("auth file %s does not exist; fix: pass an existing file to --authfile (podman login / skopeo login write one)", p)
			}
			return nil, fmt.Errorf("auth file %s: %w", p, err)
		}
		f := &file{path: p}
		if err := json.Unmarshal(b, f); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
				return nil, fmt.Errorf("auth file %s:%d: not valid JSON (%v)", p, line, se)
			}
			return nil, fmt.Errorf("auth file %s: %v", p, err)
		}
		k.files = append(k.files, f)
	}
	return k, nil
}

// normalize turns legacy keys ("https://index.docker.io/v1/", "http://r/")
// into containers-auth.json form ("docker.io", "r").
func normalize(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	if strings.HasSuffix(k, "/v1/") || strings.HasSuffix(k, "/v2/") {
		k = k[:len(k)-4]
	}
	k = strings.TrimRight(k, "/")
	switch k {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	if strings.HasPrefix(k, "index.docker.io/") {
		return "docker.io/" + strings.TrimPrefix(k, "index.docker.io/")
	}
	return k
}

// candidates lists keys from most to least specific: registry/ns/repo,
// registry/ns, registry.
func candidates(r authn.Resource) []string {
	full := normalize(r.String())
	var out []string
	for k := full; ; {
		out = append(out, k)
		i := strings.LastIndexByte(k, '/')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	if reg := normalize(r.RegistryStr()); out[len(out)-1] != reg {
		out = append(out, reg)
	}
	return out
}

// Resolve implements authn.Keychain.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cands := candidates(r)
	for _, f := range k.files {
		byKey := map[string]entry{}
		keyName := map[string]string{}
		for key, e := range f.Auths {
			byKey[normalize(key)] = e
			keyName[normalize(key)] = key
		}
		for _, c := range cands {
			if e, ok := byKey[c]; ok {
				return e.authenticator(f.path, keyName[c])
			}
		}
		reg := normalize(r.RegistryStr())
		if h, ok := f.CredHelpers[reg]; ok {
			return helper(h, r.RegistryStr())
		}
		if f.CredsStore != "" {
			return helper(f.CredsStore, r.RegistryStr())
		}
	}
	return authn.Anonymous, nil
}

// Source tells which file and key would answer for r (no secrets).
func (k *Keychain) Source(r authn.Resource) string {
	cands := candidates(r)
	for _, f := range k.files {
		for _, c := range cands {
			for key := range f.Auths {
				if normalize(key) == c {
					return f.path + " (" + key + ")"
				}
			}
		}
	}
	return "anonymous"
}

func (e entry) authenticator(path, key string) (authn.Authenticator, error) {
	switch {
	case e.IdentityToken != "":
		return authn.FromConfig(authn.AuthConfig{IdentityToken: e.IdentityToken}), nil
	case e.Auth != "":
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth file %s: entry %q: \"auth\" is not base64; fix: log in again", path, key)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("auth file %s: entry %q: \"auth\" does not hold user:password; fix: log in again", path, key)
		}
		return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
	case e.Username != "":
		return authn.FromConfig(authn.AuthConfig{Username: e.Username, Password: e.Password}), nil
	}
	return authn.Anonymous, nil
}

// helper asks docker-credential-<name> for the registry's credentials.
func helper(name, registry string) (authn.Authenticator, error) {
	bin := "docker-credential-" + name
	cmd := exec.Command(bin, "get")
	cmd.Stdin = strings.NewReader(registry)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("credential helper %s is not installed (named in the auth file for %s)", bin, registry)
		}
		if strings.Contains(out.String()+errb.String(), "credentials not found") {
			return authn.Anonymous, nil
		}
		return nil, fmt.Errorf("credential helper %s for %s failed: %v", bin, registry, err)
	}
	var c struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		return nil, fmt.Errorf("credential helper %s for %s: unreadable answer", bin, registry)
	}
	if c.Username == "<token>" {
		return authn.FromConfig(authn.AuthConfig{IdentityToken: c.Secret}), nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Secret}), nil
}
