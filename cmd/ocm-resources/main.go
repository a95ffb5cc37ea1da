// Command ocm-resources writes the cluster resources (IDMS, ITMS,
// CatalogSource, ClusterCatalog, UpdateService) for the pushed records on
// stdin.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/resources"
)

const usage = `usage: ocm-push ... | ocm-resources [--out DIR] [flags] > records.jsonl

Writes into DIR (default working-dir/cluster-resources) idms-oc-mirror.yaml,
itms-oc-mirror.yaml, per mirrored catalog a CatalogSource
cs-<catalog>-<tag>.yaml and a ClusterCatalog cc-<catalog>-<tag>.yaml (image by
tag unless --pin-catalog-digest), updateService.yaml and
signature-configmap.yaml/.json (the release payloads' signatures, read from
--cache, else fetched from OCP_SIGNATURE_URL), covering every pushed record of
the input (the whole image set, not only what was new), and into --charts DIR
(default working-dir/helm/charts, where oc-mirror keeps them) each pushed Helm
chart as <name>-<version>.tgz, read from --cache (default: the default cache).
Records pass through to
stdout unless --no-passthrough. Exit 0: written, no failed image; 1: written, some image
failed (left out of the resources and named); 2: bad flags or input.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.Common{Name: "ocm-resources"}
	fs := cli.NewFlagSet(c.Name, usage)
	out := fs.String("out", filepath.Join("working-dir", "cluster-resources"), "directory for the resource files")
	noPass := fs.Bool("no-passthrough", false, "do not copy the input records to stdout")
	tmpl := fs.String("catalog-source-template", "", "CatalogSource YAML whose fields (e.g. spec.updateStrategy) the generated ones keep")
	pin := fs.Bool("pin-catalog-digest", false, "CatalogSource and ClusterCatalog name the catalog image by digest, not by its tag (a registryPoll update strategy then never sees a re-mirror)")
	cfgPath := fs.StringP("config", "c", "", "image set configuration: its operators[].targetCatalogSourceTemplate apply per catalog")
	cacheDir := fs.String("cache", "", "cache holding the release signatures and Helm charts (the one ocm-push read); without it signatures are fetched from OCP_SIGNATURE_URL and charts read from the default cache")
	chartsDir := fs.String("charts", filepath.Join("working-dir", "helm", "charts"), "directory for the Helm chart archives")
	fs.StringVar(&c.LogLevel, "loglevel", "info", "error, info, debug or trace")
	c.Retries = 1
	if code := c.Parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return c.Fatalf(pipeline.ExitUsage, "no arguments are taken; fix: ocm-resources --out DIR < records")
	}
	if err := cli.OutDir("--out", *out); err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if err := cli.OutDir("--charts", *chartsDir); err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	o := resources.Options{PinDigest: *pin}
	if *tmpl != "" {
		t, err := resources.LoadTemplate(*tmpl)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		o.CatalogSourceTemplate = t
	}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		o.Templates = map[string]map[string]any{}
		for _, op := range cfg.Spec.Operators {
			if op.TargetCatalogSourceTemplate == "" {
				continue
			}
			t, err := resources.LoadTemplate(op.TargetCatalogSourceTemplate)
			if err != nil {
				return c.Fatalf(pipeline.ExitUsage, "%s: operators catalog %s: %v", *cfgPath, op.Catalog, err)
			}
			o.Templates[op.Catalog] = t
		}
	}
	recs, err := record.ReadAll(os.Stdin, "stdin")
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if o.Signatures, err = loadSignatures(recs, *cacheDir); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "signature ConfigMap: %v", err)
	}
	files, err := resources.Generate(recs, o)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	if err := writeFiles(&c, *out, files); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	// After the cluster resources: a chart missing from the cache does not
	// keep them from being written.
	charts, err := loadCharts(recs, *cacheDir)
	if err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "helm charts: %v", err)
	}
	if err := writeFiles(&c, *chartsDir, charts); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	if len(files) == 0 {
		c.Log.Warnf("no pushed image in the input: no resource written")
	}
	tally := &pipeline.Tally{}
	w := record.NewWriter(os.Stdout)
	for _, r := range recs {
		tally.Add(r, true)
		if !*noPass {
			if err := w.Write(r); err != nil {
				return c.Fatalf(pipeline.ExitImageFailed, "writing records: %v", err)
			}
		}
	}
	if n := len(tally.Upstream); n > 0 {
		c.Log.Warnf("%d failed images are left out of the resources", n)
	}
	return cli.Summary(os.Stderr, c.Name, tally, nil, false)
}

// writeFiles writes files into dir, made when there is a file to write.
func writeFiles(c *cli.Common, dir string, files []resources.File) error {
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
		c.Log.Infof("wrote %s", p)
	}
	return nil
}

// loadCharts reads the pushed Helm charts from the cache named, else the
// default one (where ocm-plan stored them and ocm-push read them).
func loadCharts(recs []*record.Record, cacheDir string) ([]resources.File, error) {
	need := false
	for _, r := range recs {
		need = need || (r.Status == record.StatusPushed && r.Origin == record.OriginHelmChart)
	}
	if !need {
		return nil, nil
	}
	dir := cacheDir
	if dir == "" {
		var err error
		if dir, err = (&cli.Cache{}).Dir(); err != nil {
			return nil, err
		}
	}
	cch, err := cache.Open(dir)
	if err != nil {
		return nil, err
	}
	return resources.Charts(recs, cch)
}

// loadSignatures reads the signatures of every pushed release payload: from
// the cache when one is given (disk to mirror: no network), else from the
// signature store.
func loadSignatures(recs []*record.Record, cacheDir string) (map[string][][]byte, error) {
	var cch *cache.Cache
	var store *releasesig.Store
	var err error
	if cacheDir != "" {
		if cch, err = cache.Open(cacheDir); err != nil {
			return nil, err
		}
	}
	out := map[string][][]byte{}
	ctx, _, cancel := cli.Context()
	defer cancel()
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Origin != record.OriginRelease || len(r.Signatures) == 0 || out[r.Digest] != nil {
			continue
		}
		if cch == nil && store == nil {
			if store, err = releasesig.StoreFromEnv(); err != nil {
				return nil, err
			}
		}
		b, err := releasesig.Load(ctx, cch, store, r)
		if err != nil {
			return nil, err
		}
		out[r.Digest] = b
	}
	return out, nil
}
