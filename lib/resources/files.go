package resources

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
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

// Write writes files into dir (made if missing), each whole or not at all,
// and warns of the failed images of recs that they leave out.
func Write(dir string, files []File, recs []*record.Record, log *logging.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := atomicfile.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		log.Infof("wrote %s", p)
	}
	if len(files) == 0 {
		log.Warnf("no pushed image in the input: no resource written")
	}
	failed := 0
	for _, r := range recs {
		if r.Status == record.StatusFailed {
			failed++
		}
	}
	if failed > 0 {
		log.Warnf("%d failed images are left out of the resources", failed)
	}
	return nil
}
