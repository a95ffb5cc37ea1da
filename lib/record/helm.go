package record

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

// Built reports whether r's image was built by ocm-plan into the cache (the
// graph image, a Helm chart artifact): it has no source registry to ask,
// and nothing can be attached to it there.
func (r *Record) Built() bool { return r.Origin == OriginGraph || r.Origin == OriginHelmChart }
