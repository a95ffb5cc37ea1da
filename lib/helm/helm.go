// Package helm finds the images Helm charts use (mirror.helm): it reads a
// repository's index.yaml, downloads the charts, renders their templates
// with their default values through the Helm SDK (in a child process held
// to a deadline and a memory budget, see Limits), and collects every image
// the rendered objects name, as oc-mirror does. The charts themselves are
// stored in the cache as Helm OCI artifacts (Store) and read back as the
// .tgz files of the workspace (Archive).
package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/config"
)

// maxBytes bounds an index or a chart archive read over HTTP.
const maxBytes = 64 << 20

// Image is an image a chart uses.
type Image struct {
	Ref   string // as the chart writes it
	Chart string // name-version
}

// Collector reads charts.
type Collector struct {
	// HTTP is the client of the commands (registry.Client.HTTPClient:
	// retries, idle timeout, TLS policy). Required: there is no fallback
	// to a client without the transport's budget and TLS policy.
	HTTP *http.Client
	Warn func(format string, args ...any)
	// Limits bound each chart's rendering (zero fields: DefaultLimits).
	Limits Limits
}

// Chart is a chart h names, packaged: what oc-mirror keeps as
// working-dir/helm/charts/<name>-<version>.tgz.
type Chart struct {
	Metadata *chart.Metadata
	// Archive is the packaged chart: a repository's archive as downloaded,
	// a local .tgz as read, a local directory packaged (with fixed times, so
	// the same directory packages to the same bytes).
	Archive []byte
}

// Set is what mirror.helm names: the charts and the images they use.
type Set struct {
	Charts []Chart
	Images []Image
}

// Collect returns every chart h names, packaged, and their images, each
// once, in order.
func (c *Collector) Collect(ctx context.Context, h *config.Helm) (*Set, error) {
	out := &Set{}
	seen := map[string]bool{}
	add := func(ch *chart.Chart, archive []byte, spec config.HelmChart) error {
		imgs, err := c.render(ctx, ch.Name()+"-"+ch.Metadata.Version, archive, spec.ImagePaths)
		if err != nil {
			return err
		}
		out.Charts = append(out.Charts, Chart{Metadata: ch.Metadata, Archive: archive})
		for _, i := range imgs {
			if !seen[i] {
				seen[i] = true
				out.Images = append(out.Images, Image{Ref: i, Chart: ch.Name() + "-" + ch.Metadata.Version})
			}
		}
		return nil
	}
	allowed := repositoryOrigins(h)
	for _, r := range h.Repositories {
		idx, err := c.index(ctx, r, allowed)
		if err != nil {
			return nil, fmt.Errorf("helm repository %s (%s): %w", r.Name, r.URL, err)
		}
		specs := r.Charts
		if len(specs) == 0 { // every chart of the repository
			for _, n := range sortedKeys(idx.Entries) {
				specs = append(specs, config.HelmChart{Name: n})
			}
		}
		for _, spec := range specs {
			archive, err := c.remoteChart(ctx, r.URL, idx, spec, allowed)
			var ch *chart.Chart
			if err == nil {
				ch, err = loadArchive(archive, "the chart archive")
			}
			if err != nil {
				return nil, fmt.Errorf("helm repository %s: chart %s: %w", r.Name, spec.Name, err)
			}
			if err := add(ch, archive, spec); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range h.Local {
		ch, archive, err := localChart(l.Path)
		if err != nil {
			return nil, fmt.Errorf("local chart %s (%s): %w", l.Name, l.Path, err)
		}
		if err := add(ch, archive, l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// index is the part of a repository's index.yaml used here: the entries
// of the charts asked for, and the names of the others.
type index struct {
	Entries map[string][]indexVersion `json:"entries"`
}

// open GETs u, which must be on an origin of o, as must every redirect
// from it; repo is the repository it is read for.
func (c *Collector) open(ctx context.Context, u, repo string, o origins) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if err := o.check(req.URL, nil, repo); err != nil {
		return nil, err
	}
	if c.HTTP == nil {
		return nil, errors.New("helm: no HTTP client; fix: set Collector.HTTP to registry.Client.HTTPClient()")
	}
	resp, err := c.client(o, repo).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}

func (c *Collector) get(ctx context.Context, u, repo string, o origins) ([]byte, error) {
	body, err := c.open(ctx, u, repo, o)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return capread.All(body, "chart archive "+u, maxBytes)
}

// index reads r's index.yaml as it streams, keeping the entries of the
// charts r names (all when it names none).
func (c *Collector) index(ctx context.Context, r config.HelmRepository, o origins) (*index, error) {
	u := strings.TrimSuffix(r.URL, "/") + "/index.yaml"
	body, err := c.open(ctx, u, r.URL, o)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var want map[string]bool
	if len(r.Charts) > 0 {
		want = map[string]bool{}
		for _, ch := range r.Charts {
			want[ch.Name] = true
		}
	}
	max, err := indexCap()
	if err != nil {
		return nil, err
	}
	idx, err := decodeIndex(capread.Reader(body, u, max), want)
	var tl *capread.TooLargeError
	if errors.As(err, &tl) {
		return nil, fmt.Errorf("%s is larger than %d MiB, the most ocm reads of an index; fix: if the repository's index is that large, set %s to more: %w", u, max>>20, IndexMaxEnv, capread.ErrTooLarge)
	}
	return idx, err
}

// remoteChart downloads the archive of the version asked for (none: the
// newest).
func (c *Collector) remoteChart(ctx context.Context, repoURL string, idx *index, spec config.HelmChart, o origins) ([]byte, error) {
	versions := idx.Entries[spec.Name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("not in the repository's index.yaml; fix: check the chart name (known: %s)", strings.Join(sortedKeys(idx.Entries), ", "))
	}
	best, bestV := -1, (*semver.Version)(nil)
	for i, v := range versions {
		if spec.Version != "" {
			if v.Version == spec.Version {
				best = i
			}
			continue
		}
		sv, err := semver.NewVersion(v.Version)
		if err == nil && sv.Prerelease() == "" && (bestV == nil || sv.GreaterThan(bestV)) {
			best, bestV = i, sv
		}
	}
	if best < 0 || len(versions[best].URLs) == 0 {
		var have []string
		for _, v := range versions {
			have = append(have, v.Version)
		}
		return nil, fmt.Errorf("version %q is not in the index (it has %s)", spec.Version, strings.Join(have, ", "))
	}
	base, err := url.Parse(strings.TrimSuffix(repoURL, "/") + "/")
	if err != nil {
		return nil, err
	}
	u, err := base.Parse(versions[best].URLs[0])
	if err != nil {
		return nil, err
	}
	return c.get(ctx, u.String(), repoURL, o)
}

// renderImages renders ch with its default values and returns every image
// reference its objects name under an "image" key or at imagePaths, and a
// warning for each value there that is not an image reference. It runs in
// the renderer (see render).
func renderImages(ch *chart.Chart, imagePaths []string) (out, warnings []string, err error) {
	paths, err := jsonPaths(imagePaths)
	if err != nil {
		return nil, nil, err
	}
	opts := chartutil.ReleaseOptions{Name: ch.Name(), Namespace: "default", Revision: 1, IsInstall: true}
	// The values schema is not checked: ocm renders only the chart's own
	// defaults to find images, and Helm's validator follows a schema's $ref
	// to file:// and http(s):// URLs, which would let a chart read files of
	// the planning machine or reach any host past ocm's transport.
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, ch.Values, opts, chartutil.DefaultCapabilities, true)
	if err != nil {
		return nil, nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering: %w", err)
	}
	for _, fn := range sortedKeys(files) {
		if !strings.HasSuffix(fn, ".yaml") && !strings.HasSuffix(fn, ".yml") {
			continue // NOTES.txt and helpers
		}
		for _, doc := range strings.Split(files[fn], "\n---") {
			var obj any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
				continue
			}
			found := imageValues(obj, nil)
			for _, jp := range paths {
				res, err := jp.FindResults(obj)
				if err != nil {
					continue
				}
				for _, rs := range res {
					for _, v := range rs {
						if s, ok := v.Interface().(string); ok {
							found = append(found, s)
						}
					}
				}
			}
			for _, s := range found {
				if _, err := name.ParseReference(s); err != nil {
					warnings = append(warnings, fmt.Sprintf("chart %s: %s names %q, not an image reference; skipped", ch.Name(), fn, s))
					continue
				}
				out = append(out, s)
			}
		}
	}
	return out, warnings, nil
}

// jsonPaths parses imagePaths.
func jsonPaths(imagePaths []string) ([]*jsonpath.JSONPath, error) {
	var paths []*jsonpath.JSONPath
	for _, p := range imagePaths {
		jp := jsonpath.New("imagePaths").AllowMissingKeys(true)
		if err := jp.Parse(p); err != nil {
			return nil, fmt.Errorf("imagePaths %q: %w; fix: write a JSONPath such as {.spec.template.spec.containers[*].image}", p, err)
		}
		paths = append(paths, jp)
	}
	return paths, nil
}

// imageValues collects string values of keys named "image", at any depth.
func imageValues(v any, out []string) []string {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			if s, ok := t[k].(string); ok && k == "image" && s != "" {
				out = append(out, s)
				continue
			}
			out = imageValues(t[k], out)
		}
	case []any:
		for _, e := range t {
			out = imageValues(e, out)
		}
	}
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
