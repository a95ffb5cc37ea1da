// Command ocm-resources writes the cluster resources (IDMS, ITMS,
// CatalogSource, ClusterCatalog, UpdateService) for the pushed records on
// stdin.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/resources"
	"github.com/ocm-mirror/ocm/lib/shard"
)

const usage = `usage: ocm-push ... | ocm-resources [--out DIR] [flags] > records.jsonl

Writes into DIR (default working-dir/cluster-resources) idms-oc-mirror.yaml,
itms-oc-mirror.yaml, per mirrored catalog a CatalogSource cs-<catalog>-<tag>.yaml and
a ClusterCatalog cc-<catalog>-<tag>.yaml (image by tag unless --pin-catalog-digest),
updateService.yaml (graph image by tag unless --pin-graph-digest) and
signature-configmap.yaml/.json (the release payloads' signatures, read from
--cache, else the default cache, else fetched from OCP_SIGNATURE_URL; verified
first with --verify-release-signatures or OCP_SIGNATURE_VERIFICATION_PK set), covering every
pushed record of the input (the whole image set, not only what was new), and into
--charts DIR (default working-dir/helm/charts, where oc-mirror keeps them) each pushed
Helm chart as <name>-<version>.tgz, read from --cache (default: the default cache).
Records pass through to stdout unless --no-passthrough. Exit 0: written, no failed
image; 1: written, some image failed (left out and named); 2: bad flags or input (or not every part of a
sharded run, once).`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-resources", usage)
	out := resources.Output{Dir: filepath.Join("working-dir", "cluster-resources"), ChartsDir: filepath.Join("working-dir", "helm", "charts")}
	c.Flags.StringVar(&out.Dir, "out", out.Dir, "directory for the resource files")
	noPass := c.Flags.Bool("no-passthrough", false, "do not copy the input records to stdout")
	tmpl := c.Flags.String("catalog-source-template", "", "CatalogSource YAML whose fields (e.g. spec.updateStrategy) the generated ones keep")
	var o resources.Options
	c.Flags.BoolVar(&o.PinDigest, "pin-catalog-digest", false, "CatalogSource and ClusterCatalog name the catalog image by digest, not by its tag (a registryPoll update strategy then never sees a re-mirror)")
	c.Flags.BoolVar(&o.PinGraphDigest, "pin-graph-digest", false, "UpdateService names the graph data image by digest, not by its tag graph-image:latest (a later run's graph then needs the new file applied)")
	cfgPath := cli.ConfigVar(c.Flags, "image set configuration: its operators[].targetCatalogSourceTemplate apply per catalog")
	cacheDir := c.Flags.String("cache", "", "cache holding the release signatures and Helm charts (the one ocm-push read); signatures it lacks are read from the default cache, else fetched from OCP_SIGNATURE_URL; charts are read from the default cache without it")
	verifySigs := c.Flags.Bool("verify-release-signatures", false, "verify every release signature with the keyring of "+releasesig.KeysEnv+" (else the built-in Red Hat keys) before it is written; on whenever "+releasesig.KeysEnv+" is set. A payload whose signature does not verify fails and is left out of the signature ConfigMap")
	c.Flags.StringVar(&out.ChartsDir, "charts", out.ChartsDir, "directory for the Helm chart archives")
	c.Register(c.Flags, cli.FlagSource) // the signature store is reached like a source registry
	return c.Run(args, func(ctx context.Context) (int, error) {
		if c.Flags.NArg() > 0 {
			return 0, cli.Usagef("no arguments are taken; fix: ocm-resources --out DIR < records")
		}
		keys, err := releasesig.ResourcesKeyring(*verifySigs)
		if err == nil {
			err = cli.OutDirs("--out", out.Dir, "--charts", out.ChartsDir)
		}
		if err == nil {
			err = o.LoadTemplates(*tmpl, *cfgPath)
		}
		if err != nil {
			return 0, cli.Usage(err)
		}
		recs, err := cli.ReadRecords()
		if err == nil {
			err = cli.Usage(shard.Complete(recs))
		}
		if err != nil {
			return 0, err
		}
		// Where the records' stage left the signatures: the --cache given,
		// else the default cache (none found: skipped), else the store.
		defCache, _ := (&cli.Cache{}).Dir()
		if o.Signatures, err = releasesig.Pushed(ctx, recs, []string{*cacheDir, defCache}, keys, c.SourceHTTP); err != nil {
			return 0, fmt.Errorf("signature ConfigMap: %w", err)
		}
		files, err := resources.Generate(recs, o)
		if err != nil {
			return 0, cli.Usage(err)
		}
		out.Log, out.Cache = c.Log, func() (*cache.Cache, error) { return cli.OpenCache(*cacheDir) }
		if err := out.Write(files, recs); err != nil {
			return 0, err
		}
		return c.Finish(cli.Passthrough(!*noPass), recs, func(r *record.Record) bool { return r.Stage != releasesig.ResourcesStage })
	})
}
