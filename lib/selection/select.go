// Package selection applies a configuration to planned records without any
// network: mirror.blockedImages (Blocklist), and the offline selection of
// ocm-unpack --config (Select). It links no Kubernetes or catalog code, so
// the enclave side stays small.
package selection

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// Select keeps the records cfg asks for, without any network: one archive
// set can then feed several enclaves, each with its own configuration.
//   - additional images: named in additionalImages and not blocked;
//   - operator images: their catalog is listed, and their package is listed
//     (or the catalog lists no packages); version filters are not applied;
//   - release images: a listed channel's version range holds the release
//     (no range: every release of the set), or platform.release names its
//     payload (by digest, or by the repository and tag it was planned from).
//
// Records that are not selected are dropped, not marked. blockedImages
// apply as in plan: blocked additional and helm images are dropped, blocked
// operator bundles and related images come back skipped naming the rule
// (the catalog still lists them), and a blocked image of a selected release
// is an ErrReleaseBlocked error (a release is whole or not at all).
func Select(cfg *config.Config, recs []*record.Record) ([]*record.Record, error) {
	blocked, err := NewBlocklist(cfg.Spec.BlockedImages)
	if err != nil {
		return nil, err
	}
	wantAdd := map[string]bool{}
	for _, img := range cfg.Spec.AdditionalImages {
		wantAdd[canonical(img.Name)] = true
	}
	named := namedReleaseVersions(cfg.Spec.Platform, recs)
	var out []*record.Record
	for _, r := range recs {
		keep := false
		switch r.Origin {
		case record.OriginAdditional:
			keep = wantAdd[canonical(r.Source)] && blocked.MatchRecord(r) == ""
		case record.OriginCatalog, record.OriginBundle, record.OriginRelated:
			keep = operatorSelected(cfg.Spec.Operators, r)
			if why := blocked.MatchRecord(r); keep && why != "" && r.Origin != record.OriginCatalog && !r.Done() {
				r.Status, r.Stage, r.Error = record.StatusSkipped, "unpack", why
			}
		case record.OriginRelease, record.OriginReleaseComponent:
			keep = releaseSelected(cfg.Spec.Platform, r.Release) || named[r.Release]
		case record.OriginHelm:
			keep = cfg.Spec.Helm != nil && blocked.MatchRecord(r) == ""
		case record.OriginHelmChart:
			keep = cfg.Spec.Helm != nil
		case record.OriginGraph:
			keep = cfg.Spec.Platform != nil && cfg.Spec.Platform.Graph
		}
		if keep {
			out = append(out, r)
		}
	}
	if err := blocked.CheckReleases(out); err != nil {
		return nil, err
	}
	return out, nil
}

// canonical spells a reference the way name.ParseReference resolves it.
func canonical(s string) string {
	ref, err := name.ParseReference(s)
	if err != nil {
		return s
	}
	if tag := refs.TagOf(s); tag != "" {
		if d, ok := refs.DigestOf(s); ok {
			return ref.Context().Name() + ":" + tag + "@" + d
		}
	}
	return ref.Name()
}

func operatorSelected(ops []config.Operator, r *record.Record) bool {
	for _, op := range ops {
		if canonical(op.Catalog) != canonical(r.Catalog) {
			continue
		}
		if r.Origin == record.OriginCatalog || len(op.Packages) == 0 {
			return true
		}
		for _, p := range op.Packages {
			if p.Name == r.Package {
				return true
			}
		}
	}
	return false
}

func releaseSelected(pl *config.Platform, version string) bool {
	if pl == nil {
		return false
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return false
	}
	for _, ch := range pl.Channels {
		if ch.MinVersion != "" && v.LessThan(semver.MustParse(ch.MinVersion)) {
			continue
		}
		if ch.MaxVersion != "" && v.GreaterThan(semver.MustParse(ch.MaxVersion)) {
			continue
		}
		return true
	}
	return false
}

// namedReleaseVersions are the versions of the payload records that
// platform.release names.
func namedReleaseVersions(pl *config.Platform, recs []*record.Record) map[string]bool {
	out := map[string]bool{}
	if pl == nil || pl.Release == "" {
		return out
	}
	ref, err := name.ParseReference(pl.Release)
	if err != nil {
		return out
	}
	d, byDigest := refs.DigestOf(pl.Release)
	tag := refs.TagOf(pl.Release)
	for _, r := range recs {
		if r.Origin != record.OriginRelease {
			continue
		}
		rr, err := name.ParseReference(r.Source)
		if err != nil || rr.Context().Name() != ref.Context().Name() {
			continue
		}
		if (byDigest && r.Digest == d) || (!byDigest && tag != "" && r.Tag == tag) {
			out[r.Release] = true
		}
	}
	return out
}

// Selector is Select with the configuration loaded from a file (ocm-unpack
// --config); a nil Selector keeps every record.
type Selector struct {
	cfg  *config.Config
	path string
}

// LoadSelector loads the configuration at path ("": nil, keep everything).
func LoadSelector(path string) (*Selector, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return &Selector{cfg: cfg, path: path}, nil
}

// Select keeps the records s's configuration asks for (Select) and logs how
// many of those of the archives. Its error names the configuration.
func (s *Selector) Select(recs []*record.Record, log *logging.Logger) ([]*record.Record, error) {
	if s == nil {
		return recs, nil
	}
	out, err := Select(s.cfg, recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	log.Infof("%s selects %d of the %d images in the archives", s.path, len(out), len(recs))
	return out, nil
}
