// Command ocm-delete removes images from a mirror registry in two steps:
// --generate writes the list of manifests that would go, for review;
// --delete-yaml-file deletes exactly those.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/deletion"
)

const usage = `usage:
  ocm-plan -c delete.yaml | ocm-delete --generate [--workspace DIR] [--delete-id ID] [--delete-signatures] [--keep KEEP] docker://HOST[/PREFIX]
  ocm-delete --delete-yaml-file DIR/delete/delete-images.yaml [--dry-run] [--force-cache-delete --cache C] docker://HOST[/PREFIX]

--generate resolves each record (from a DeleteImageSetConfiguration) against
the mirror and writes DIR/delete/delete-images.yaml (oc-mirror's
DeleteImageList): every manifest that would be deleted, by digest, with its
source; it deletes nothing. --delete-signatures adds what is attached to them
(cosign signatures, attestations, SBOMs, referrers). KEEP (the mirror's
current image set: an ImageSetConfiguration, or the records of what was
pushed) protects manifests that set still needs. --delete-yaml-file deletes
exactly the file's manifests (tags pointing at them go with them); an item
outside docker://HOST[/PREFIX] refuses the whole file. Deleting
manifests frees no storage until the registry's garbage collector runs.
Exit 0: done; 1: a registry refused or failed; 2: bad flags or input.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-delete", usage)
	generate := c.Flags.Bool("generate", false, "write DIR/delete/delete-images.yaml from the records on stdin; delete nothing")
	deleteID := c.Flags.String("delete-id", "", "with --generate: write DIR/delete/delete-images-ID.yaml instead")
	signatures := c.Flags.Bool("delete-signatures", false, "with --generate: also list the signatures, attestations, SBOMs and referrers attached to each listed manifest at the mirror")
	var workspace, yamlFile string
	cli.WorkspaceVar(c.Flags, &workspace, "folder for delete/delete-images.yaml")
	keep := c.Flags.String("keep", "", "image set to keep: an ImageSetConfiguration (planned against its sources) or a records file (.jsonl)")
	cli.LocalPathVar(c.Flags, &yamlFile, "delete-yaml-file", "", "delete the manifests this file lists: ocm-delete --generate's or oc-mirror v2's delete-images.yaml (PATH or file://PATH)")
	dryRun := c.Flags.Bool("dry-run", false, "with --delete-yaml-file: print what would be deleted, delete nothing")
	forceCache := c.Flags.Bool("force-cache-delete", false, "also remove the deleted images from --cache (blobs no other cached image uses)")
	cacheFlag := cli.CacheVar(c.Flags, "the local cache, for --force-cache-delete")
	maxNested := cli.MaxNestedVar(c.Flags, "as given to ocm-push")
	c.Register(c.Flags, cli.FlagSource|cli.FlagDest)
	return c.Run(args, func(ctx context.Context) (int, error) {
		if c.Flags.NArg() != 1 || *generate == (yamlFile != "") {
			return 0, cli.Usagef("give either --generate or --delete-yaml-file, and one docker://HOST[/PREFIX]; fix: see ocm-delete --help")
		}
		if !*generate && (*deleteID != "" || *signatures) {
			return 0, cli.Usagef("--delete-id and --delete-signatures shape the list --generate writes; fix: give them with --generate")
		}
		mirror, dst, err := c.Mirror(c.Flags.Arg(0))
		if err != nil {
			return 0, err
		}
		if *generate {
			path, err := deletion.ListPath(workspace, *deleteID)
			if err != nil {
				return 0, cli.Usage(err)
			}
			recs, err := cli.ReadRecords()
			if err != nil {
				return 0, err
			}
			g := &deletion.Generator{Client: dst, Mirror: mirror, MaxNested: *maxNested, Log: c.Log, Signatures: *signatures}
			if g.Keep, err = deletion.KeepSet(ctx, *keep, c.SourceClient, c.Log); err != nil {
				return 0, cli.Usagef("--keep %s: %v", *keep, err)
			}
			return 0, g.WriteList(ctx, recs, path, c.Flags.Arg(0))
		}
		l, err := deletion.Read(yamlFile)
		if err != nil {
			return 0, cli.Usage(err)
		}
		res, err := deletion.Delete(ctx, dst, mirror, *maxNested, l, *dryRun, c.Log)
		if errors.Is(err, deletion.ErrOutOfScope) {
			return 0, cli.Usagef("%s: %v", yamlFile, err)
		} else if err != nil || !*forceCache || *dryRun {
			return 0, err
		}
		cch, err := cacheFlag.Open()
		if err != nil {
			return 0, err
		}
		return 0, deletion.Forget(cch, res, c.Log)
	})
}
