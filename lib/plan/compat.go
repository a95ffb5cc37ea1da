package plan

import (
	"context"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/helm"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/selection"
)

// additionalRecord is the planned record of an additionalImages entry; with
// targetRepo/targetTag (oc-mirror's fields) its destination is set here,
// the digest still coming from the source.
func additionalRecord(img config.Image) (*record.Record, error) {
	r := &record.Record{V: record.Version, Origin: record.OriginAdditional, Source: img.Name, Status: record.StatusPlanned, Stage: "plan"}
	if img.TargetRepo == "" && img.TargetTag == "" {
		return r, nil
	}
	dest, err := refs.Destination(img.Name)
	if err != nil {
		return nil, err
	}
	if img.TargetRepo != "" {
		dest.Path = img.TargetRepo
	}
	if img.TargetTag != "" {
		dest.Tag = img.TargetTag
	}
	r.Destination = dest.String()
	return r, nil
}

// operatorBlocklist is the blocklist of the configuration being planned
// (empty when Operators is called on its own).
func (p *Planner) operatorBlocklist() *selection.Blocklist {
	if p.blocked != nil {
		return p.blocked
	}
	b, _ := selection.NewBlocklist(nil)
	return b
}

// helmRecords plans mirror.helm: each chart, stored in the cache as a Helm
// OCI artifact, then the images the charts use (resolved and blocked like
// additional images, which they precede).
func (p *Planner) helmRecords(ctx context.Context, cfg *config.Config) ([]*record.Record, error) {
	if cfg.Spec.Helm == nil {
		return nil, nil
	}
	c := p.HelmCharts
	if c == nil {
		c = &helm.Collector{Warn: p.Log.Warnf, Limits: p.HelmLimits}
	}
	if c.HTTP == nil { // the source client's transport: --retries, --idle-timeout, the TLS policy
		cc := *c
		cc.HTTP = p.httpClient()
		c = &cc
	}
	set, err := c.Collect(ctx, cfg.Spec.Helm)
	if err != nil {
		return nil, err
	}
	var out []*record.Record
	if cfg.Kind == config.KindDelete { // the charts as pushed: nothing is stored
		for _, ch := range set.Charts {
			r, err := helm.Placed(ch)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if cfg.Kind == config.KindImageSet {
		if p.Cache == nil {
			return nil, fmt.Errorf("mirror.helm: the charts are stored in a cache; fix: pass --cache DIR to ocm-plan, and the same --cache to ocm-push")
		}
		for _, ch := range set.Charts {
			r, err := helm.Store(ctx, p.Cache, ch)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	for _, i := range set.Images {
		out = append(out, &record.Record{V: record.Version, Origin: record.OriginHelm, Source: i.Ref, Status: record.StatusPlanned, Stage: "plan"})
	}
	p.Log.Infof("helm: %d charts, %d images in them", len(set.Charts), len(set.Images))
	return out, nil
}
