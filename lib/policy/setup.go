package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// NewChecker is the checker of --secure-policy (nil when secure is off):
// the policy at path, with the lookaside store at the base URL lookaside
// ("": none) for signedBy requirements.
func NewChecker(secure bool, path, lookaside string, client *registry.Client) (*Checker, error) {
	if !secure {
		if lookaside != "" {
			return nil, fmt.Errorf("%s is only read with --secure-policy; fix: add --secure-policy, or drop it", LookasideFlag)
		}
		return nil, nil
	}
	pol, err := Load(path)
	if err != nil {
		return nil, err
	}
	c := &Checker{Policy: pol, Client: client}
	if lookaside != "" {
		if c.Lookaside, err = releasesig.NewLookaside(lookaside, LookasideFlag); err != nil {
			return nil, err
		}
		c.Lookaside.HTTP = client.HTTPClient()
	}
	return c, nil
}

// ErrLayoutUnjudged: an image in a local OCI layout has no registry, so no
// signature a policy could ask for.
var ErrLayoutUnjudged = errors.New("--secure-policy judges images at their registry, and a local OCI layout has none; fix: push the catalog to a registry and name it there, or plan it without --secure-policy")

// Vet checks a planned record's image at its source; one the policy refuses,
// or that cannot be checked, fails (and is logged). A nil Checker, a record
// already done or not resolved, and an image ocm built itself
// (record.Built: the graph image, a chart artifact, a rebuilt catalog) are
// left alone: the policy judges what upstream published, never ocm's own
// output, which upstream could not have signed.
func (c *Checker) Vet(ctx context.Context, r *record.Record, log *logging.Logger) {
	if c == nil || r.Done() || r.Digest == "" || r.Built() {
		return
	}
	if err := c.Judge(ctx, r); err != nil {
		r.Fail("plan", err)
		log.Errorf("%s: %v", r.Name(), err)
	}
}

// Judge checks r's image, as its source names it and by its digest, at its
// source registry; nil: accepted, and always with a nil Checker. A
// *Rejection is the policy's no; other errors say the check itself failed.
func (c *Checker) Judge(ctx context.Context, r *record.Record) error {
	if c == nil {
		return nil
	}
	repo, err := c.Client.SourceRepo(r.Source)
	if err != nil {
		return err
	}
	err = c.Check(ctx, repo, r.Tag, r.Digest)
	if err != nil && !errors.Is(err, ErrRejected) {
		return fmt.Errorf("checking the signature policy: %w", err)
	}
	return err
}
