package resources

import (
	"bytes"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/helm"
	"github.com/ocm-mirror/ocm/lib/record"
)

// Charts returns the archives of the pushed Helm charts (records of origin
// helm-chart), read from c, each named as oc-mirror names the files of its
// working-dir/helm/charts: <name>-<version>.tgz.
func Charts(recs []*record.Record, c *cache.Cache) ([]File, error) {
	var out []File
	byName := map[string][]byte{}
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Origin != record.OriginHelmChart {
			continue
		}
		if c == nil {
			return nil, fmt.Errorf("chart %s: no cache to read it from; fix: pass the --cache ocm-push read it from", r.Source)
		}
		name, data, err := helm.Archive(c, r)
		if err != nil {
			return nil, fmt.Errorf("chart %s (%s): %w; fix: pass the --cache ocm-push read it from", r.Source, r.Digest, err)
		}
		if prev, ok := byName[name]; ok {
			if !bytes.Equal(prev, data) {
				return nil, fmt.Errorf("two different charts are named %s in the input", name)
			}
			continue
		}
		byName[name] = data
		out = append(out, File{Name: name, Data: data})
	}
	return out, nil
}
