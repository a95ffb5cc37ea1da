// Package policy reads a containers-policy.json(5) and decides, for an image
// read from its source, whether the policy accepts it (--secure-policy):
// insecureAcceptAnything, reject, sigstoreSigned with cosign public keys
// (keyPath, keyPaths, keyData), and signedBy with GPG keys, its simple
// signatures read from a lookaside store (containers-signature(5)).
// Signatures are verified with github.com/sigstore/sigstore's verifiers and
// lib/releasesig's OpenPGP verification, not hand-written crypto.
package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// DefaultPath is where oc-mirror and skopeo read the policy by default.
const DefaultPath = "/etc/containers/policy.json"

// Requirement is one entry of a policy's requirement list.
type Requirement struct {
	Type string `json:"type"`
	// sigstoreSigned (and signedBy's key fields)
	KeyType  string   `json:"keyType,omitempty"`
	KeyPath  string   `json:"keyPath,omitempty"`
	KeyPaths []string `json:"keyPaths,omitempty"`
	KeyData  string   `json:"keyData,omitempty"`
	// Fulcio and Rekor settings are read so they can be refused by name.
	Fulcio             json.RawMessage `json:"fulcio,omitempty"`
	RekorPublicKeyPath string          `json:"rekorPublicKeyPath,omitempty"`
	RekorPublicKeyData string          `json:"rekorPublicKeyData,omitempty"`
	SignedIdentity     *Identity       `json:"signedIdentity,omitempty"`

	keys [][]byte            // sigstoreSigned: PEM public keys, loaded
	gpg  *releasesig.Keyring // signedBy: the keys, loaded
}

// Identity is a signedIdentity.
type Identity struct {
	Type             string `json:"type"`
	DockerReference  string `json:"dockerReference,omitempty"`
	DockerRepository string `json:"dockerRepository,omitempty"`
}

// Policy is a parsed containers-policy.json.
type Policy struct {
	Default    []Requirement                       `json:"default"`
	Transports map[string]map[string][]Requirement `json:"transports,omitempty"`

	path string
}

// Load reads and checks a policy file; every problem names the file and
// the requirement, and says what to change.
func Load(path string) (*Policy, error) {
	b, err := capread.File(path, capread.Config)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w; fix: give --policy FILE, a containers-policy.json(5)", path, err)
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy %s: %v; fix: see containers-policy.json(5)", path, err)
	}
	p.path = path
	if len(p.Default) == 0 {
		return nil, fmt.Errorf("policy %s: \"default\" is missing or empty; fix: set it, e.g. [{\"type\":\"reject\"}]", path)
	}
	if err := p.load("default", p.Default); err != nil {
		return nil, err
	}
	for tr, scopes := range p.Transports {
		for scope, reqs := range scopes {
			where := fmt.Sprintf("transports.%s[%q]", tr, scope)
			if tr == "docker" {
				if err := checkScope(scope); err != nil {
					return nil, fmt.Errorf("policy %s: %s %w", path, where, err)
				}
			}
			if len(reqs) == 0 {
				return nil, fmt.Errorf("policy %s: %s is empty; fix: give at least one requirement", path, where)
			}
			if err := p.load(where, reqs); err != nil {
				return nil, err
			}
		}
	}
	return &p, nil
}

func (p *Policy) load(where string, reqs []Requirement) error {
	for i := range reqs {
		r := &reqs[i]
		at := fmt.Sprintf("policy %s: %s[%d] (%s)", p.path, where, i, r.Type)
		switch r.Type {
		case "insecureAcceptAnything", "reject":
		case "sigstoreSigned":
			if len(r.Fulcio) > 0 || r.RekorPublicKeyPath != "" || r.RekorPublicKeyData != "" {
				return fmt.Errorf("%s: fulcio and rekor settings are not supported by ocm yet; fix: verify with a public key (keyPath, keyPaths or keyData)", at)
			}
			n := 0
			if r.KeyPath != "" {
				n++
				k, err := capread.File(r.KeyPath, capread.Config)
				if err != nil {
					return fmt.Errorf("%s: keyPath: %w", at, err)
				}
				r.keys = append(r.keys, k)
			}
			if len(r.KeyPaths) > 0 {
				n++
				for _, kp := range r.KeyPaths {
					k, err := capread.File(kp, capread.Config)
					if err != nil {
						return fmt.Errorf("%s: keyPaths: %w", at, err)
					}
					r.keys = append(r.keys, k)
				}
			}
			if r.KeyData != "" {
				n++
				k, err := base64.StdEncoding.DecodeString(r.KeyData)
				if err != nil {
					return fmt.Errorf("%s: keyData is not base64: %v; fix: base64 -w0 cosign.pub", at, err)
				}
				r.keys = append(r.keys, k)
			}
			if n != 1 {
				return fmt.Errorf("%s: exactly one of keyPath, keyPaths, keyData is needed, %d given", at, n)
			}
			for _, k := range r.keys {
				if _, err := loadVerifier(k); err != nil {
					return fmt.Errorf("%s: %v; fix: give the PEM public key cosign generate-key-pair wrote (cosign.pub)", at, err)
				}
			}
			if err := checkIdentity(at, r.SignedIdentity); err != nil {
				return err
			}
		case "signedBy":
			if err := p.loadSignedBy(at, r); err != nil {
				return err
			}
		case "":
			return fmt.Errorf("%s: requirement without \"type\"", at)
		default:
			return fmt.Errorf("%s: unknown requirement type %q; fix: insecureAcceptAnything, reject, signedBy or sigstoreSigned", at, r.Type)
		}
	}
	return nil
}

// loadSignedBy reads a signedBy requirement's GPG keys: exactly one of
// keyPath, keyPaths, keyData (base64 of the keyring), each an armored or
// binary OpenPGP keyring, as containers-policy.json(5) has it.
func (p *Policy) loadSignedBy(at string, r *Requirement) error {
	switch r.KeyType {
	case "GPGKeys":
	case "":
		return fmt.Errorf("%s: keyType is missing; fix: \"keyType\": \"GPGKeys\"", at)
	default:
		return fmt.Errorf("%s: keyType %q is not supported by ocm; fix: \"keyType\": \"GPGKeys\"", at, r.KeyType)
	}
	if len(r.Fulcio) > 0 || r.RekorPublicKeyPath != "" || r.RekorPublicKeyData != "" {
		return fmt.Errorf("%s: fulcio and rekor settings belong to sigstoreSigned, not signedBy; fix: remove them", at)
	}
	type keyring struct {
		field string
		data  []byte
	}
	var rings []keyring
	n := 0
	if r.KeyPath != "" {
		n++
		k, err := capread.File(r.KeyPath, capread.Config)
		if err != nil {
			return fmt.Errorf("%s: keyPath: %w", at, err)
		}
		rings = append(rings, keyring{"keyPath " + r.KeyPath, k})
	}
	if len(r.KeyPaths) > 0 {
		n++
		for _, kp := range r.KeyPaths {
			k, err := capread.File(kp, capread.Config)
			if err != nil {
				return fmt.Errorf("%s: keyPaths: %w", at, err)
			}
			rings = append(rings, keyring{"keyPaths " + kp, k})
		}
	}
	if r.KeyData != "" {
		n++
		k, err := base64.StdEncoding.DecodeString(r.KeyData)
		if err != nil {
			return fmt.Errorf("%s: keyData is not base64: %v; fix: gpg --export KEY | base64 -w0", at, err)
		}
		rings = append(rings, keyring{"keyData", k})
	}
	if n != 1 {
		return fmt.Errorf("%s: exactly one of keyPath, keyPaths, keyData is needed, %d given", at, n)
	}
	r.gpg = &releasesig.Keyring{Source: "the policy's keys"}
	for _, k := range rings {
		kr, err := releasesig.ParseKeyring(k.data, at+": "+k.field)
		if err != nil {
			return err
		}
		r.gpg.Add(kr)
	}
	return checkIdentity(at, r.SignedIdentity)
}

// checkIdentity refuses signedIdentity matchers ocm does not evaluate.
func checkIdentity(at string, id *Identity) error {
	if id == nil {
		return nil
	}
	switch id.Type {
	case "matchRepoDigestOrExact", "matchRepository":
	case "exactRepository":
		if id.DockerRepository == "" {
			return fmt.Errorf("%s: signedIdentity exactRepository needs dockerRepository", at)
		}
	default:
		return fmt.Errorf("%s: signedIdentity type %q is not supported by ocm; fix: use matchRepoDigestOrExact, matchRepository or exactRepository", at, id.Type)
	}
	return nil
}

// identity is repo's name as containers-policy.json(5) scopes spell it:
// Docker Hub is docker.io, where go-containerregistry says index.docker.io.
func identity(repo name.Repository) string {
	if repo.RegistryStr() == name.DefaultRegistry {
		return "docker.io/" + repo.RepositoryStr()
	}
	return repo.Name()
}

// For returns the requirements for the image digest of repository repo,
// named in its source by tag ("": by digest only), and the scope that chose
// them: the most specific docker scope (repo:tag, then repo@digest, then the
// repository, each enclosing namespace, the host, then "*.domain" wildcards),
// else the docker transport's "" scope, else the default.
func (p *Policy) For(repo name.Repository, tag, digest string) (string, []Requirement) {
	scopes := p.Transports["docker"]
	if scopes != nil {
		id := identity(repo)
		var exact []string
		if tag != "" {
			exact = append(exact, id+":"+tag)
		}
		if digest != "" {
			exact = append(exact, id+"@"+digest)
		}
		for _, s := range exact {
			if reqs, ok := scopes[s]; ok {
				return s, reqs
			}
		}
		for s := id; ; {
			if reqs, ok := scopes[s]; ok {
				return s, reqs
			}
			i := strings.LastIndexByte(s, '/')
			if i < 0 {
				break
			}
			s = s[:i]
		}
		host, _, _ := strings.Cut(id, "/")
		host, _, _ = strings.Cut(host, ":")
		// Wildcards, most specific first.
		var wild []string
		for s := range scopes {
			if strings.HasPrefix(s, "*.") && strings.HasSuffix(host, s[1:]) {
				wild = append(wild, s)
			}
		}
		sort.Slice(wild, func(i, j int) bool { return len(wild[i]) > len(wild[j]) })
		if len(wild) > 0 {
			return wild[0], scopes[wild[0]]
		}
		if reqs, ok := scopes[""]; ok {
			return "docker", reqs
		}
	}
	return "default", p.Default
}

// checkScope refuses a docker scope that could never apply.
func checkScope(scope string) error {
	const hub = name.DefaultRegistry + "/"
	if strings.HasPrefix(scope, hub) || scope == name.DefaultRegistry {
		return fmt.Errorf("names Docker Hub as %s, which never matches: scopes spell it docker.io; fix: write %q", name.DefaultRegistry, "docker.io"+strings.TrimPrefix(scope, name.DefaultRegistry))
	}
	return nil
}

// Rejection says why the policy refused an image.
type Rejection struct {
	Image       string // repo@digest
	Scope       string
	Requirement string
	Reason      string
}

func (e *Rejection) Error() string {
	return fmt.Sprintf("refused by --secure-policy (scope %q, requirement %s): %s %s", e.Scope, e.Requirement, e.Image, e.Reason)
}

// ErrRejected matches every *Rejection.
var ErrRejected = errors.New("refused by the signature policy")

func (e *Rejection) Is(target error) bool { return target == ErrRejected }
