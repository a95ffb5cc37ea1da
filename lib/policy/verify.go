package policy

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// cosign's simple signing: a layer of this media type holds the payload,
// its annotation the base64 signature over it.
const (
	simpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	sigAnnotation = "dev.cosignproject.cosign/signature"
	maxPayload    = 1 << 20
)

func loadVerifier(pemKey []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %w", err)
	}
	return signature.LoadVerifier(pub, crypto.SHA256)
}

// Checker evaluates images against a policy at their source.
type Checker struct {
	Policy *Policy
	Client *registry.Client
	// Lookaside is the store signedBy reads simple signatures from (Repo
	// unset: it is set per image); nil: none is known, and signedBy
	// refuses every image for want of a signature.
	Lookaside *releasesig.Store
}

// LookasideFlag is the ocm-plan flag that sets Checker.Lookaside.
const LookasideFlag = "--signature-lookaside"

// Check evaluates the image digest of repo, named in its source by tag
// ("": by digest only); nil: accepted. A *Rejection
// (errors.Is ErrRejected) is the policy's no; other errors are failures to
// ask the registry.
func (c *Checker) Check(ctx context.Context, repo name.Repository, tag, digest string) error {
	scope, reqs := c.Policy.For(repo, tag, digest)
	for _, r := range reqs {
		rej := func(why string) error {
			return &Rejection{Image: identity(repo) + "@" + digest, Scope: scope, Requirement: r.Type, Reason: why}
		}
		switch r.Type {
		case "insecureAcceptAnything":
		case "reject":
			return rej("is rejected for every image of the scope")
		case "sigstoreSigned":
			ok, why, err := c.sigstoreSigned(ctx, repo, digest, &r)
			if err != nil {
				return err
			}
			if !ok {
				return rej(why)
			}
		case "signedBy":
			ok, why, err := c.signedBy(ctx, repo, digest, &r)
			if err != nil {
				return err
			}
			if !ok {
				return rej(why)
			}
		default: // Load refuses the rest
			return rej("has a requirement ocm does not evaluate")
		}
	}
	return nil
}

// sigstoreSigned looks for a signature under cosign's tag scheme that one
// of r's keys verifies, whose payload names digest and an accepted identity.
func (c *Checker) sigstoreSigned(ctx context.Context, repo name.Repository, digest string, r *Requirement) (bool, string, error) {
	tag := "sha256-" + digest[len("sha256:"):] + ".sig"
	_, found, err := c.Client.HeadManifest(ctx, repo, tag)
	if err != nil {
		return false, "", fmt.Errorf("looking up the signature %s:%s: %w", repo, tag, err)
	}
	if !found {
		return false, "has no sigstore signature (no " + tag + ")", nil
	}
	body, mt, _, err := c.Client.Manifest(ctx, repo, tag)
	if err != nil {
		return false, "", fmt.Errorf("reading the signature %s:%s: %w", repo, tag, err)
	}
	m, _, err := manifest.Parse(body, mt)
	if err != nil {
		return false, "", fmt.Errorf("signature %s:%s: %w", repo, tag, err)
	}
	why := "has no signature by the policy's key"
	for _, l := range m.Layers {
		sig64, ok := l.Annotations[sigAnnotation]
		if l.MediaType != simpleSigning || !ok || l.Size > maxPayload {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(sig64)
		if err != nil {
			continue
		}
		rc, _, err := c.Client.Blob(ctx, repo, l.Digest)
		if err != nil {
			return false, "", fmt.Errorf("reading signature payload %s: %w", l.Digest, err)
		}
		pl, err := io.ReadAll(io.LimitReader(rc, maxPayload))
		rc.Close()
		if err != nil {
			return false, "", fmt.Errorf("reading signature payload %s: %w", l.Digest, err)
		}
		verified := false
		for _, k := range r.keys {
			v, err := loadVerifier(k)
			if err != nil {
				continue
			}
			if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl)) == nil {
				verified = true
				break
			}
		}
		if !verified {
			continue
		}
		var p releasesig.Claim // cosign signs the same simple signing document
		if err := json.Unmarshal(pl, &p); err != nil {
			why = "has a signature whose payload is not JSON"
			continue
		}
		if p.Critical.Image.DockerManifestDigest != digest {
			why = "has a signature by the key for another digest (" + p.Critical.Image.DockerManifestDigest + ")"
			continue
		}
		if !identityOK(r.SignedIdentity, repo, p.Critical.Identity.DockerReference) {
			why = "has a signature by the key for another image (" + p.Critical.Identity.DockerReference + ")"
			continue
		}
		return true, "", nil
	}
	return false, why, nil
}

// signedBy reads the image's simple signatures from the lookaside store
// and accepts the image when one verifies with r's keys (lib/releasesig:
// signature, critical.type, critical.image.docker-manifest-digest) and
// its critical.identity.docker-reference is an accepted identity.
func (c *Checker) signedBy(ctx context.Context, repo name.Repository, digest string, r *Requirement) (bool, string, error) {
	if c.Lookaside == nil {
		return false, "has no signature found: no lookaside store is set (fix: give " + LookasideFlag + " URL, the lookaside: (sigstore:) URL of containers-registries.d(5))", nil
	}
	st := *c.Lookaside
	st.Repo = repo.RepositoryStr()
	sigs, err := st.Fetch(ctx, digest)
	if errors.Is(err, releasesig.ErrNone) {
		u, _ := st.URL(digest, 1)
		return false, "has no signature found (" + u + " answered 404; fix: publish its signatures there, or check " + LookasideFlag + ")", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("reading the simple signatures of %s@%s: %w", repo, digest, err)
	}
	var why []string
	for i, sig := range sigs {
		claim, err := r.gpg.Verify(sig, digest)
		if err != nil {
			why = append(why, fmt.Sprintf("signature-%d: %s", i+1, strings.TrimPrefix(err.Error(), releasesig.ErrInvalid.Error()+": ")))
			continue
		}
		if ref := claim.Critical.Identity.DockerReference; !identityOK(r.SignedIdentity, repo, ref) {
			why = append(why, fmt.Sprintf("signature-%d: signed for another image (%s)", i+1, ref))
			continue
		}
		return true, "", nil
	}
	return false, "has no valid signature by the policy's keys: " + strings.Join(why, "; "), nil
}

// identityOK applies signedIdentity to the signature's docker-reference.
// The image is judged by digest, so matchRepoDigestOrExact (the default)
// asks for the same repository.
func identityOK(id *Identity, repo name.Repository, ref string) bool {
	if id != nil && id.Type == "exactRepository" {
		return sameRepo(id.DockerRepository, ref)
	}
	return sameRepo(repo.Name(), ref)
}

func sameRepo(a, b string) bool {
	ra, err1 := name.ParseReference(a)
	rb, err2 := name.ParseReference(b)
	return err1 == nil && err2 == nil && ra.Context().Name() == rb.Context().Name()
}
