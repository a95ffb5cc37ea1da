// Command ocm-resources writes the cluster resources (IDMS, ITMS,
// CatalogSource, ClusterCatalog, UpdateService) for the pushed records on
// stdin.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/cli"
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
the input (the whole image set, not only what was new). Records pass through to
stdout unless --no-passthrough. Exit 0: written, no failed image; 1: written, some image
failed (left out of the resources and named); 2: bad flags or input.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-resources", usage)
	out := c.Flags.String("out", filepath.Join("working-dir", "cluster-resources"), "directory for the resource files")
	noPass := c.Flags.Bool("no-passthrough", false, "do not copy the input records to stdout")
	tmpl := c.Flags.String("catalog-source-template", "", "CatalogSource YAML whose fields (e.g. spec.updateStrategy) the generated ones keep")
	var o resources.Options
	c.Flags.BoolVar(&o.PinDigest, "pin-catalog-digest", false, "CatalogSource and ClusterCatalog name the catalog image by digest, not by its tag (a registryPoll update strategy then never sees a re-mirror)")
	cfgPath := cli.ConfigVar(c.Flags, "image set configuration: its operators[].targetCatalogSourceTemplate apply per catalog")
	cacheDir := c.Flags.String("cache", "", "cache holding the release signatures (the one ocm-unpack or ocm-fetch filled); without it they are fetched from OCP_SIGNATURE_URL")
	c.RegisterLocal(c.Flags, 0)
	return c.Run(args, func(ctx context.Context) (int, error) {
		if c.Flags.NArg() > 0 {
			return 0, cli.Usagef("no arguments are taken; fix: ocm-resources --out DIR < records")
		}
		err := cli.OutDir("--out", *out)
		if err == nil {
			err = o.LoadTemplates(*tmpl, *cfgPath)
		}
		if err != nil {
			return 0, cli.Usage(err)
		}
		recs, err := cli.ReadRecords()
		if err != nil {
			return 0, err
		}
		if o.Signatures, err = releasesig.Pushed(ctx, recs, *cacheDir); err != nil {
			return 0, fmt.Errorf("signature ConfigMap: %w", err)
		}
		files, err := resources.Generate(recs, o)
		if err != nil {
			return 0, cli.Usage(err)
		}
		if err := resources.Write(*out, files, recs, c.Log); err != nil {
			return 0, err
		}
		w := io.Writer(os.Stdout)
		if *noPass {
			w = nil
		}
		tally, err := cli.WriteRecords(w, recs, func(*record.Record) bool { return true })
		if err != nil {
			return 0, err
		}
		return cli.Summary(os.Stderr, c.Name, tally, nil, false), nil
	})
}
