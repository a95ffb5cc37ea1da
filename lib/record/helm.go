package record

import (
	"errors"
	"fmt"
)

const (
	// OriginHelm: an image a Helm chart of mirror.helm uses.
	OriginHelm Origin = "helm"
	// OriginHelmChart: a chart of mirror.helm itself, stored by ocm-plan in
	// the cache as a Helm OCI artifact (docs/isc.md, Helm charts).
	OriginHelmChart Origin = "helm-chart"
)

func init() {
	origins[OriginHelm] = true
	origins[OriginHelmChart] = true
}

// Built reports whether r's image is ocm's own, built into the cache (the
// graph image, a Helm chart artifact, a rebuilt catalog: BuiltFrom set): it
// has no source registry to ask, nothing can be attached to it there, and
// --secure-policy does not judge it (it judges what upstream published).
func (r *Record) Built() bool {
	return r.Origin == OriginGraph || r.Origin == OriginHelmChart || r.BuiltFrom != ""
}

// ErrNotBuilt: a record's image was built by ocm-plan into a cache (Built)
// the stage does not read.
var ErrNotBuilt = errors.New("built by ocm-plan into its cache, and not in the cache this stage reads")

// CheckBuilt returns ErrNotBuilt, with the fix, for a built record whose
// image the stage's cache lacks: there is no registry to get it from.
func (r *Record) CheckBuilt(cached bool) error {
	if !r.Built() || cached {
		return nil
	}
	return fmt.Errorf("%s: %w; fix: pass the --cache ocm-plan used (or ocm-unpack filled)", r.Source, ErrNotBuilt)
}
