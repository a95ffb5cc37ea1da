// Command ocm-plan reads an ImageSetConfiguration (or a
// DeleteImageSetConfiguration) and writes one image record per image of the
// set to stdout, every tag resolved to its digest.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/graphimage"
	"github.com/ocm-mirror/ocm/lib/helm"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/record"
)

const usage = `usage: ocm-plan -c isc.yaml [flags] > plan.jsonl

Reads an image set configuration (mirror.openshift.io/v2alpha1) and writes the
image records of the set: each image's source, the digest its tag resolves to
now, and its destination under the mirror root. Plan never copies anything.
Release payloads are read from their registry and every component image is
planned; the update graph comes from UPDATE_URL_OVERRIDE when set. Each
payload's signatures are fetched from OCP_SIGNATURE_URL (default Red Hat's
store) and verified with OCP_SIGNATURE_VERIFICATION_PK (default the built-in
Red Hat release keys); a release without a valid one is a release error,
unless --ignore-release-signature. An additional or operator image with
platforms, and the multi payload with mirror.platform.platforms and its
components, are planned sparse: each index is copied unchanged (same digest)
with only those platforms' manifests and blobs (--no-sparse: whole). An
operator package that names no channels gets its default channel only (one
warning per package names the channels left out), or every channel with
--every-channel (oc-mirror 4.18+). With --secure-policy, images the policy
(--policy) refuses fail alone: catalogs as published, not what ocm builds;
signedBy reads simple signatures from --signature-lookaside. Exit 0: every
image planned; 1: some image could not be resolved or was refused by the
policy (its record says why, the summary names it), or a release could not
be planned (nothing is written then: releases are all or nothing); 2: bad
flags or configuration, a bad Helm chart, or two different images bound for
one destination (nothing is written then); 130: interrupted.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-plan", usage)
	cfgPath := cli.ConfigVar(c.Flags, "image set configuration file")
	workers := c.Flags.Int("workers", 8, "images resolved at once")
	cacheFlag := cli.CacheVar(c.Flags, "cache to build filtered catalogs, the update graph image and Helm chart artifacts in")
	graph := graphimage.FlagsVar(c.Flags)
	pol := policy.FlagsVar(c.Flags)
	helmLimits := helm.FlagsVar(c.Flags)
	unsigned := c.Flags.Bool("ignore-release-signature", false, "plan release payloads without fetching or verifying their signatures (custom or nightly payloads); the mirror then has no signature ConfigMap for them")
	noSparse := c.Flags.Bool("no-sparse", false, "copy images planned with platforms whole (every platform), for a mirror registry that refuses sparse indexes (an index naming manifests it lacks)")
	everyChannel := c.Flags.Bool("every-channel", false, "where an operator package names no channels (a catalog alone, packages: [name], or a package minVersion/maxVersion), select every channel of it (its head, or the range within each channel) as oc-mirror 4.18+ does, instead of the default channel alone; the rebuilt catalog keeps each of them")
	files := cli.RecordFilesVar(c.Flags, false, true)
	c.Register(c.Flags, cli.FlagSource)
	return c.Run(args, func(ctx context.Context) (int, error) {
		if *cfgPath == "" || c.Flags.NArg() > 0 {
			return 0, cli.Usagef("-c isc.yaml is required and no arguments are taken; fix: ocm-plan -c isc.yaml")
		} else if *workers < 1 {
			return 0, cli.Usagef("--workers must be at least 1")
		}
		p := &plan.Planner{Log: c.Log, Workers: *workers, HelmLimits: *helmLimits, NoSparse: *noSparse, EveryChannel: *everyChannel}
		cfg, err := p.LoadConfig(*cfgPath)
		if err == nil {
			p.Client, err = c.SourceClient()
		}
		if err == nil {
			p.Policy, err = pol.Checker(p.Client)
		}
		if err == nil {
			err = p.UseSignatures(cfg, *unsigned)
		}
		if err != nil {
			return 0, cli.Usage(err)
		}
		if err := p.UseCache(cfg, cacheFlag.Open, c.Engine, graph.DataURL, graph.BaseImage); err != nil {
			return 0, err
		}
		// Records go out as they are resolved: ocm-push can start copying while the plan goes on.
		code, err := c.Produce(files, func(emit func(*record.Record) error) error { return p.Stream(ctx, cfg, emit) })
		if errors.Is(err, helm.ErrBadChart) {
			err = cli.Usage(err)
		} else if errors.Is(err, plan.ErrCollision) {
			err = cli.Usagef("%s: %v", *cfgPath, err)
		}
		return code, err // release problems stop the plan (exit 1): a partial release is useless
	})
}
