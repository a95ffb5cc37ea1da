// Package resources generates the cluster resources that point an OpenShift
// cluster at the mirror: ImageDigestMirrorSet, ImageTagMirrorSet,
// CatalogSource and ClusterCatalog, UpdateService and the release signature
// ConfigMap, from the records of what was pushed.
package resources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// File names, kept from the reference tool so existing runbooks work.
const (
	IDMSFile          = "idms-oc-mirror.yaml"
	ITMSFile          = "itms-oc-mirror.yaml"
	UpdateServiceFile = "updateService.yaml"
	// UpdateServiceNamespace is where the OpenShift Update Service operator
	// is installed by default; the reference tool writes it too.
	UpdateServiceNamespace = "openshift-update-service"
	// CatalogNamespace is OLM's global catalog namespace on OpenShift.
	CatalogNamespace = "openshift-marketplace"
)

// File is one generated file.
type File struct {
	Name string
	Data []byte
}

// Options for Generate.
type Options struct {
	// CatalogSourceTemplate, when set, is a CatalogSource whose fields the
	// generated ones keep (name, namespace and image are replaced).
	CatalogSourceTemplate map[string]any
	// Templates are per-catalog templates (targetCatalogSourceTemplate),
	// keyed by the catalog's source reference; they win over the global one.
	Templates map[string]map[string]any
	// PinDigest makes CatalogSource and ClusterCatalog name the catalog by
	// digest. By default they name it by tag, as the reference tool does, so
	// that a registryPoll update strategy (or a ClusterCatalog's polling)
	// picks up a re-mirrored catalog.
	PinDigest bool
	// PinGraphDigest makes the UpdateService name the graph data image by
	// digest. By default it names it by tag (…/openshift/graph-image:latest),
	// as the reference tool does, so that the next run's graph is picked up.
	PinGraphDigest bool
	// Signatures are the release payloads' signatures (payload digest ->
	// the signatures its record names, in order), for the signature
	// ConfigMap.
	Signatures map[string][][]byte
}

// category splits mirror sets the way the reference tool names them.
func category(o record.Origin) string {
	switch o {
	case record.OriginRelease, record.OriginReleaseComponent:
		return "release"
	case record.OriginBundle, record.OriginRelated, record.OriginCatalog:
		return "operator"
	case record.OriginGraph:
		return ""
	default:
		return "generic"
	}
}

type mirrorEntry struct {
	Source  string   `json:"source"`
	Mirrors []string `json:"mirrors"`
}

// Generate builds the files for the pushed records. Only records with status
// pushed count; the order of the input does not matter.
func Generate(recs []*record.Record, o Options) ([]File, error) {
	var mappings []mapping
	var catalogs []*record.Record
	var graph *record.Record
	releaseMirrors := map[string]bool{}
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Target == "" || r.Origin == record.OriginHelmChart {
			continue // a chart is a file of the workspace (Charts), not a mirror of a source
		}
		// The target goes verbatim into mirror sets a cluster applies.
		if err := refs.CheckTarget(r.Target); err != nil {
			return nil, fmt.Errorf("record %s: target: %w", r.Source, err)
		}
		if r.Origin == record.OriginCatalog && refs.IsOCI(r.Source) {
			// A catalog from a local layout has no registry to map (oc-mirror
			// leaves every catalog out of IDMS/ITMS); its CatalogSource names
			// the mirror.
			catalogs = append(catalogs, r)
			continue
		}
		srcRepo, byDigest, err := sourceRepo(r.Source)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", r.Source, err)
		}
		dstRepo, err := targetRepo(r.Target)
		if err != nil {
			return nil, fmt.Errorf("record %s: target %s: %w", r.Source, r.Target, err)
		}
		switch r.Origin {
		case record.OriginCatalog:
			// The CatalogSource names the mirror directly: no mirror set needed.
			catalogs = append(catalogs, r)
			continue
		case record.OriginGraph:
			graph = r
			continue
		case record.OriginRelease:
			releaseMirrors[dstRepo] = true
		}
		// A payload is pulled by digest and by tag (quay.io/...:4.15.3-x86_64,
		// the reference tool's origin for it): its repository goes in both.
		payload := r.Origin == record.OriginRelease
		mappings = append(mappings, mapping{cat: category(r.Origin), src: srcRepo, dst: dstRepo, digest: byDigest || payload, tag: !byDigest || payload})
	}
	digestSets, tagSets := scopeMappings(mappings)
	var files []File
	if b := mirrorSets("ImageDigestMirrorSet", "idms", "imageDigestMirrors", digestSets); b != nil {
		files = append(files, File{IDMSFile, b})
	}
	if b := mirrorSets("ImageTagMirrorSet", "itms", "imageTagMirrors", tagSets); b != nil {
		files = append(files, File{ITMSFile, b})
	}
	cs, err := catalogSources(catalogs, o)
	if err != nil {
		return nil, err
	}
	files = append(files, cs...)
	cc, err := clusterCatalogs(catalogs, o)
	if err != nil {
		return nil, err
	}
	files = append(files, cc...)
	sf, err := signatureConfigMaps(recs, o.Signatures)
	if err != nil {
		return nil, err
	}
	files = append(files, sf...)
	if graph != nil && len(releaseMirrors) > 0 {
		f, err := updateService(graph, releaseMirrors, o.PinGraphDigest)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// sourceRepo returns the repository of a source reference and whether the
// source pins a digest (IDMS) rather than a tag (ITMS).
func sourceRepo(s string) (string, bool, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return "", false, err
	}
	_, byDigest := ref.(name.Digest)
	return displayRepo(ref.Context()), byDigest, nil
}

func targetRepo(s string) (string, error) {
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		return "", err
	}
	return displayRepo(ref.Context()), nil
}

// displayRepo writes docker.io repositories the way clusters match them.
func displayRepo(r name.Repository) string {
	host := r.RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	return host + "/" + r.RepositoryStr()
}

// annotations are the reference tool's, less createdAt (a timestamp would
// make every run's files differ; they are the same run to run) and
// oc-mirror_version (ocm is no oc-mirror version). createdBy keeps the
// reference tool's value, so that selectors written for its resources
// find these.
func annotations() map[string]string {
	return map[string]string{"createdBy": "oc-mirror v2"}
}

// mapping is one source repository mirrored to one mirror repository.
type mapping struct {
	cat, src, dst string
	digest, tag   bool // in the IDMS, the ITMS
}

// splitNS splits a repository (host/path) into its namespace (host and
// every path element but the last) and its path below the host. A
// repository at the top of its registry has no namespace.
func splitNS(repo string) (ns, path string) {
	host, path, _ := strings.Cut(repo, "/")
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", path
	}
	return host + "/" + path[:i], path
}

// nsScope returns the namespaces a mapping can be scoped to, as the
// reference tool's attemptNamespaceScope does: the mirror repository ends
// with the source's whole path (ocp/a/bundle for a/bundle), so that every
// repository of the source namespace lies under the same path in the
// mirror namespace.
func nsScope(m mapping) (srcNS, dstNS string, ok bool) {
	srcNS, srcPath := splitNS(m.src) // a source at the top of its registry stays per repository
	if srcNS == "" || !strings.HasSuffix(m.dst, "/"+srcPath) {
		return "", "", false
	}
	// The mirror repository less the source's repository name.
	return srcNS, m.dst[:strings.LastIndexByte(m.dst, '/')], true
}

// scopeMappings builds the IDMS and ITMS sets (category -> source -> mirrors).
// A source namespace is scoped whole (one entry for all its repositories)
// when every mapping of a repository in it, whatever its category or set,
// lies under the same path in the same mirror namespace; otherwise each
// repository keeps its own entry. A cluster then finds in the mirror any
// image of that namespace, as the reference tool's files let it.
func scopeMappings(ms []mapping) (digestSets, tagSets map[string]map[string]map[string]bool) {
	nsTo := map[string]string{} // source namespace -> its single mirror namespace
	bad := map[string]bool{}    // source namespaces not mirrored whole in one place
	for _, m := range ms {
		sns, _ := splitNS(m.src)
		if sns == "" {
			continue
		}
		_, dns, ok := nsScope(m)
		if prev, seen := nsTo[sns]; !ok || (seen && prev != dns) {
			bad[sns] = true
		}
		nsTo[sns] = dns
	}
	digestSets, tagSets = map[string]map[string]map[string]bool{}, map[string]map[string]map[string]bool{}
	add := func(sets map[string]map[string]map[string]bool, cat, src, dst string) {
		if sets[cat] == nil {
			sets[cat] = map[string]map[string]bool{}
		}
		if sets[cat][src] == nil {
			sets[cat][src] = map[string]bool{}
		}
		sets[cat][src][dst] = true
	}
	for _, m := range ms {
		src, dst := m.src, m.dst
		if sns, _ := splitNS(m.src); sns != "" && !bad[sns] {
			src, dst = sns, nsTo[sns]
		}
		if m.digest {
			add(digestSets, m.cat, src, dst)
		}
		if m.tag {
			add(tagSets, m.cat, src, dst)
		}
	}
	return digestSets, tagSets
}

func mirrorSets(kind, prefix, field string, sets map[string]map[string]map[string]bool) []byte {
	cats := make([]string, 0, len(sets))
	for c := range sets {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var docs [][]byte
	for _, c := range cats {
		srcs := make([]string, 0, len(sets[c]))
		for s := range sets[c] {
			srcs = append(srcs, s)
		}
		sort.Strings(srcs)
		var entries []mirrorEntry
		for _, s := range srcs {
			var ms []string
			for m := range sets[c][s] {
				ms = append(ms, m)
			}
			sort.Strings(ms)
			entries = append(entries, mirrorEntry{Source: s, Mirrors: ms})
		}
		obj := map[string]any{
			"apiVersion": "config.openshift.io/v1",
			"kind":       kind,
			"metadata":   map[string]any{"name": fmt.Sprintf("%s-%s-0", prefix, c), "annotations": annotations()},
			"spec":       map[string]any{field: entries},
		}
		b, _ := yaml.Marshal(obj)
		docs = append(docs, b)
	}
	if len(docs) == 0 {
		return nil
	}
	return bytes.Join(docs, []byte("---\n"))
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// maxName is the length limit of a DNS-1123 label. CatalogSource names
// become Service names and label values, ClusterCatalog names label values:
// both must be labels, not just subdomains.
const maxName = 63

// kubeName joins parts with '-' into a DNS-1123 label (lowercase letters,
// digits and '-', alphanumeric at both ends, at most 63 characters). Other
// characters become '-'. A name too long keeps its start and ends with a
// hash of the whole input, so long names that share a start stay apart.
func kubeName(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	full := strings.Join(keep, "-")
	s := strings.Trim(nonName.ReplaceAllString(strings.ToLower(full), "-"), "-")
	if len(s) > maxName {
		h := fnv.New32a()
		h.Write([]byte(full))
		sum := fmt.Sprintf("%08x", h.Sum32())
		s = strings.TrimRight(s[:maxName-len(sum)-1], "-") + "-" + sum
	}
	return s
}

// catalogRef is a mirrored catalog as the cluster resources name it.
type catalogRef struct {
	rec   *record.Record
	base  string // last path element of the mirror repository
	tag   string // or the digest's first 12 hex digits when mirrored by digest only
	image string // by tag, or by digest (Options.PinDigest, or no tag)
}

// catalogRefs sorts the catalog records by target and names their images.
func catalogRefs(cats []*record.Record, o Options) ([]catalogRef, error) {
	sort.Slice(cats, func(i, j int) bool { return cats[i].Target < cats[j].Target })
	var out []catalogRef
	for _, r := range cats {
		ref, err := name.ParseReference(r.Target, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: target %s: %w", r.Source, r.Target, err)
		}
		repo := ref.Context().RepositoryStr()
		c := catalogRef{rec: r, base: repo[strings.LastIndexByte(repo, '/')+1:], image: displayRepo(ref.Context()) + "@" + r.Digest}
		if t, ok := ref.(name.Tag); ok {
			c.tag = t.TagStr()
			if !o.PinDigest {
				c.image = displayRepo(ref.Context()) + ":" + c.tag
			}
		} else {
			_, hex, _ := strings.Cut(r.Digest, ":")
			c.tag = hex[:min(12, len(hex))]
		}
		if r.Digest == "" && (o.PinDigest || c.tag == "") {
			return nil, fmt.Errorf("catalog %s: record has no digest; fix: feed ocm-resources the records ocm-push wrote", r.Source)
		}
		out = append(out, c)
	}
	return out, nil
}

// names gives each catalog a distinct kubeName(prefix, base, tag).
func names(prefix string, cats []catalogRef) []string {
	used := map[string]bool{}
	out := make([]string, len(cats))
	for i, c := range cats {
		nm := kubeName(prefix, c.base, c.tag)
		for n := 1; used[nm]; n++ {
			nm = kubeName(prefix, c.base, c.tag, strconv.Itoa(n))
		}
		used[nm] = true
		out[i] = nm
	}
	return out
}

func catalogSources(recs []*record.Record, o Options) ([]File, error) {
	cats, err := catalogRefs(recs, o)
	if err != nil {
		return nil, err
	}
	nms := names("cs", cats)
	var files []File
	for i, c := range cats {
		r, nm := c.rec, nms[i]
		tmpl := o.CatalogSourceTemplate
		if t, ok := o.Templates[r.Source]; ok {
			tmpl = t
		}
		obj := map[string]any{}
		if tmpl != nil {
			obj = deepCopy(tmpl)
		}
		obj["apiVersion"] = "operators.coreos.com/v1alpha1"
		obj["kind"] = "CatalogSource"
		md, _ := obj["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
		}
		md["name"] = nm
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		for k, v := range annotations() {
			ann[k] = v
		}
		md["annotations"] = ann
		// OLM's global catalog namespace, whatever the template says: a
		// CatalogSource elsewhere serves only its own namespace (the
		// reference tool forces it too).
		md["namespace"] = CatalogNamespace
		obj["metadata"] = md
		spec, _ := obj["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
		}
		spec["image"] = c.image
		if _, ok := spec["sourceType"]; !ok {
			spec["sourceType"] = "grpc"
		}
		obj["spec"] = spec
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		files = append(files, File{nm + ".yaml", b})
	}
	return files, nil
}

// clusterCatalogs writes an OLM v1 ClusterCatalog per catalog, beside its
// CatalogSource, as the reference tool does from OpenShift 4.18.
func clusterCatalogs(recs []*record.Record, o Options) ([]File, error) {
	cats, err := catalogRefs(recs, o)
	if err != nil {
		return nil, err
	}
	nms := names("cc", cats)
	var files []File
	for i, c := range cats {
		obj := map[string]any{
			"apiVersion": "olm.operatorframework.io/v1",
			"kind":       "ClusterCatalog",
			"metadata":   map[string]any{"name": nms[i], "annotations": annotations()},
			"spec": map[string]any{
				"source": map[string]any{
					"type":  "Image",
					"image": map[string]any{"ref": c.image},
				},
			},
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		files = append(files, File{nms[i] + ".yaml", b})
	}
	return files, nil
}

func updateService(graph *record.Record, releases map[string]bool, pin bool) (File, error) {
	ref, err := name.ParseReference(graph.Target, name.Insecure)
	if err != nil {
		return File{}, err
	}
	img := displayRepo(ref.Context()) + "@" + graph.Digest
	if t, ok := ref.(name.Tag); ok && !pin {
		img = displayRepo(ref.Context()) + ":" + t.TagStr()
	} else if graph.Digest == "" {
		return File{}, fmt.Errorf("graph image %s: record has no digest; fix: feed ocm-resources the records ocm-push wrote", graph.Source)
	}
	var rs []string
	for r := range releases {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	obj := map[string]any{
		"apiVersion": "updateservice.operator.openshift.io/v1",
		"kind":       "UpdateService",
		"metadata":   map[string]any{"name": "update-service-oc-mirror", "namespace": UpdateServiceNamespace, "annotations": annotations()},
		"spec": map[string]any{
			"graphDataImage": img,
			"releases":       rs[0],
			"replicas":       2,
		},
	}
	b, err := yaml.Marshal(obj)
	return File{UpdateServiceFile, b}, err
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			out[k] = deepCopy(mm)
		} else {
			out[k] = v
		}
	}
	return out
}

// LoadTemplate reads a CatalogSource template (targetCatalogSourceTemplate).
func LoadTemplate(path string) (map[string]any, error) {
	b, err := capread.File(path, capread.Config)
	if err != nil {
		return nil, fmt.Errorf("catalog source template: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("catalog source template %s: %w", path, err)
	}
	// Decoded into the API type first: a value of the wrong type (YAML 1.1
	// reads y, yes, on, no as booleans) would be written as it was read
	// and refused by the cluster.
	var typed v1alpha1.CatalogSource
	if err := json.Unmarshal(j, &typed); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			fix := "write a " + te.Type.String() + " there"
			if te.Type.Kind() == reflect.String {
				fix = "quote the value (YAML 1.1 reads y, yes, on, no and numbers unquoted as other types)"
			}
			return nil, fmt.Errorf("catalog source template %s: %s is a %s where a %s belongs; fix: %s", path, te.Field, te.Value, te.Type, fix)
		}
		return nil, fmt.Errorf("catalog source template %s: %w", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("catalog source template %s: %w", path, err)
	}
	if m["kind"] != "CatalogSource" || m["apiVersion"] != "operators.coreos.com/v1alpha1" {
		return nil, fmt.Errorf("catalog source template %s: kind %v, apiVersion %v; fix: the template must be an operators.coreos.com/v1alpha1 CatalogSource", path, m["kind"], m["apiVersion"])
	}
	return m, nil
}
