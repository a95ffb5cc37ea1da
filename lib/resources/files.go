package resources

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
)

// LoadTemplates sets o's CatalogSource templates: the global one at tmpl
// and the per-catalog ones (targetCatalogSourceTemplate) of the image set
// configuration at cfgPath; "" skips either.
func (o *Options) LoadTemplates(tmpl, cfgPath string) error {
	if tmpl != "" {
		t, err := LoadTemplate(tmpl)
		if err != nil {
			return err
		}
		o.CatalogSourceTemplate = t
	}
	if cfgPath == "" {
		return nil
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	o.Templates = map[string]map[string]any{}
	for _, op := range cfg.Spec.Operators {
		if op.TargetCatalogSourceTemplate == "" {
			continue
		}
		t, err := LoadTemplate(op.TargetCatalogSourceTemplate)
		if err != nil {
			return fmt.Errorf("%s: operators catalog %s: %w", cfgPath, op.Catalog, err)
		}
		o.Templates[op.Catalog] = t
	}
	return nil
}

// Output is where ocm-resources writes: the cluster resources into Dir,
// the pushed Helm charts into ChartsDir.
type Output struct {
	Dir, ChartsDir string
	// Cache opens the cache holding the charts (only when there is one).
	Cache func() (*cache.Cache, error)
	Log   *logging.Logger
}

// Write writes the cluster resources files, then the Helm charts of recs
// (a chart missing from the cache does not keep the resources from being
// written), and warns of the failed images of recs that they leave out.
func (o *Output) Write(files []File, recs []*record.Record) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	if err := o.write(o.Dir, files); err != nil {
		return err
	}
	charts, err := o.charts(recs)
	if err != nil {
		return fmt.Errorf("helm charts: %w", err)
	}
	if err := o.write(o.ChartsDir, charts); err != nil {
		return err
	}
	if len(files) == 0 {
		o.Log.Warnf("no pushed image in the input: no resource written")
	}
	failed := 0
	for _, r := range recs {
		if r.Status == record.StatusFailed {
			failed++
		}
	}
	if failed > 0 {
		o.Log.Warnf("%d failed images are left out of the resources", failed)
	}
	return nil
}

// write writes files into dir, made when there is a file to write, each
// whole or not at all.
func (o *Output) write(dir string, files []File) error {
	if len(files) > 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := atomicfile.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		o.Log.Infof("wrote %s", p)
	}
	return nil
}

// charts reads the pushed Helm charts of recs from the cache.
func (o *Output) charts(recs []*record.Record) ([]File, error) {
	need := false
	for _, r := range recs {
		need = need || (r.Status == record.StatusPushed && r.Origin == record.OriginHelmChart)
	}
	if !need {
		return nil, nil
	}
	c, err := o.Cache()
	if err != nil {
		return nil, err
	}
	return Charts(recs, c)
}
