// Command ocm-delete removes images from a mirror registry in two steps:
// --generate writes the list of manifests that would go, for review;
// --delete-yaml-file deletes exactly those.
package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/deletion"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
)

const usage = `usage:
  ocm-plan -c delete.yaml | ocm-delete --generate [--workspace DIR] [--keep KEEP] docker://HOST[/PREFIX]
  ocm-delete --delete-yaml-file DIR/delete/delete-images.yaml [--dry-run] [--force-cache-delete --cache C] docker://HOST[/PREFIX]

--generate resolves each record (from a DeleteImageSetConfiguration) against
the mirror and writes DIR/delete/delete-images.yaml: every manifest that would
be deleted, with its source and digest; it deletes nothing. KEEP (the mirror's
current image set: an ImageSetConfiguration, or the records of what was
pushed) protects manifests that set still needs. --delete-yaml-file deletes
exactly the file's manifests (tags pointing at them go with them); an item
outside docker://HOST[/PREFIX] refuses the whole file. Deleting
manifests frees no storage until the registry's garbage collector runs.
Exit 0: done; 1: a registry refused or failed; 2: bad flags or input.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.Common{Name: "ocm-delete"}
	fs := cli.NewFlagSet(c.Name, usage)
	generate := fs.Bool("generate", false, "write DIR/delete/delete-images.yaml from the records on stdin; delete nothing")
	workspace := new(string)
	cli.LocalPathVar(fs, workspace, "workspace", "working-dir", "folder for delete/delete-images.yaml (PATH or file://PATH)")
	keep := fs.String("keep", "", "image set to keep: an ImageSetConfiguration (planned against its sources) or a records file (.jsonl)")
	yamlFile := new(string)
	cli.LocalPathVar(fs, yamlFile, "delete-yaml-file", "", "delete the manifests this file lists: ocm-delete --generate's or oc-mirror v2's delete-images.yaml (PATH or file://PATH)")
	dryRun := fs.Bool("dry-run", false, "with --delete-yaml-file: print what would be deleted, delete nothing")
	forceCache := fs.Bool("force-cache-delete", false, "also remove the deleted images from --cache (blobs no other cached image uses)")
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "the local cache, for --force-cache-delete")
	maxNested := fs.Int("max-nested-paths", 0, "as given to ocm-push")
	c.Register(fs, cli.FlagSource|cli.FlagDest)
	if code := c.Parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 || *generate == (*yamlFile != "") {
		return c.Fatalf(pipeline.ExitUsage, "give either --generate or --delete-yaml-file, and one docker://HOST[/PREFIX]; fix: see ocm-delete --help")
	}
	mirror, err := refs.ParseMirror(fs.Arg(0))
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	dst, err := c.DestClient()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	ctx, _, cancel := cli.Context()
	defer cancel()

	if *generate {
		recs, err := record.ReadAll(os.Stdin, "stdin")
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		g := &deletion.Generator{Client: dst, Mirror: mirror, MaxNested: *maxNested, Log: c.Log}
		if *keep != "" {
			if g.Keep, err = keepSet(ctx, &c, *keep); err != nil {
				return c.Fatalf(pipeline.ExitUsage, "--keep %s: %v", *keep, err)
			}
		}
		l, err := g.Generate(ctx, recs)
		if err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
		}
		path := filepath.Join(*workspace, "delete", "delete-images.yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
		}
		if err := deletion.Write(path, l); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
		}
		shared := 0
		for _, it := range l.Items {
			if len(it.SharedWith) > 0 {
				shared++
			}
		}
		c.Log.Infof("%d manifests to delete (%d shared with other tags) listed in %s; review it, then run ocm-delete --delete-yaml-file %s %s", len(l.Items), shared, path, path, fs.Arg(0))
		return pipeline.ExitOK
	}

	l, err := deletion.Read(*yamlFile)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	res, err := deletion.Delete(ctx, dst, mirror, *maxNested, l, *dryRun, c.Log)
	if errors.Is(err, deletion.ErrOutOfScope) {
		return c.Fatalf(pipeline.ExitUsage, "%s: %v", *yamlFile, err)
	}
	if err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	c.Log.Infof("%s %d manifests, %d already gone; storage is freed when the registry's garbage collector runs", verb, len(res.Deleted), len(res.Gone))
	if *forceCache && !*dryRun {
		cacheDir, err := cacheFlag.Dir()
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		cch, err := cache.Open(cacheDir)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		var sources []string
		for _, it := range append(res.Deleted, res.Gone...) {
			if it.Source != "" {
				sources = append(sources, it.Source)
			}
		}
		n, freed, err := cch.Forget(sources)
		if err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "cache: %v", err)
		}
		c.Log.Infof("cache: removed %d images, %d blobs (%s) no other cached image uses", len(sources), n, cli.HumanBytes(freed))
	}
	return pipeline.ExitOK
}

// keepSet reads the image set to keep: records, or a configuration to plan.
func keepSet(ctx context.Context, c *cli.Common, path string) ([]*record.Record, error) {
	if strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".json") {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return record.ReadAll(f, path)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	src, err := c.SourceClient()
	if err != nil {
		return nil, err
	}
	return (&plan.Planner{Client: src, Log: c.Log}).Plan(ctx, cfg)
}
