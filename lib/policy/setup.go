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

// Vet checks a planned record's image at its source; one the policy refuses,
// or that cannot be checked, fails (and is logged). A nil Checker, or a
// record already done or not resolved, is left alone.
func (c *Checker) Vet(ctx context.Context, r *record.Record, log *logging.Logger) {
	if c == nil || r.Done() || r.Digest == "" {
		return
	}
	if err := c.checkSource(ctx, r); err != nil {
		r.Fail("plan", err)
		log.Errorf("%s: %v", r.Name(), err)
	}
}

func (c *Checker) checkSource(ctx context.Context, r *record.Record) error {
	repo, err := c.Client.SourceRepo(r.Source)
	if err != nil {
		return err
	}
	err = c.Check(ctx, repo, r.Digest)
	if err != nil && !errors.Is(err, ErrRejected) {
		return fmt.Errorf("checking the signature policy: %w", err)
	}
	return err
}
