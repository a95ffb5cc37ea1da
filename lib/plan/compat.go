package plan

import (
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
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
func (p *Planner) operatorBlocklist() *blocklist {
	if p.blocked != nil {
		return p.blocked
	}
	b, _ := newBlocklist(nil)
	return b
}
