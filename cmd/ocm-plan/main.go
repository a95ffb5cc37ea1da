// Command ocm-plan reads an ImageSetConfiguration (or a
// DeleteImageSetConfiguration) and writes one image record per image of the
// set to stdout, every tag resolved to its digest.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/fetch"
	"github.com/ocm-mirror/ocm/lib/graphimage"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
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
unless --ignore-release-signature. With --secure-policy, images the
signature policy (--policy) refuses fail alone; signedBy (GPG) requirements
read simple signatures from --signature-lookaside. Exit 0:
every image planned; 1: some image could not be resolved or was refused by
the policy (its record says
why, the summary names it), or a release could not be planned (nothing is
written then: releases are all or nothing); 2: bad flags or configuration,
or two different images bound for one destination (nothing is written then).`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.Common{Name: "ocm-plan"}
	fs := cli.NewFlagSet(c.Name, usage)
	cfgPath := fs.StringP("config", "c", "", "image set configuration file")
	workers := fs.Int("workers", 8, "images resolved at once")
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "cache to build filtered catalogs, the update graph image and Helm chart artifacts in")
	graphURL := fs.String("graph-data-url", "", "update graph data tarball (default $GRAPH_DATA_URL_OVERRIDE, else "+graphimage.DefaultDataURL+")")
	graphBase := fs.String("graph-base-image", graphimage.DefaultBaseImage, "base image of the update graph image")
	// Signature policy (oc-mirror's --secure-policy).
	securePolicy := fs.Bool("secure-policy", false, "refuse images the signature policy (--policy) does not accept; they fail alone")
	policyPath := fs.String("policy", policy.DefaultPath, "containers-policy.json(5) for --secure-policy")
	lookaside := fs.String("signature-lookaside", "", "http(s) base URL of the lookaside store holding GPG simple signatures for the policy's signedBy requirements (<URL>/<repo>@sha256=<hex>/signature-<n>, the lookaside:/sigstore: URL of containers-registries.d(5)); default none: signedBy images are refused")
	unsigned := fs.Bool("ignore-release-signature", false, "plan release payloads without fetching or verifying their signatures (custom or nightly payloads); the mirror then has no signature ConfigMap for them")
	var files cli.RecordFiles
	files.Register(fs, false, true)
	c.Register(fs, cli.FlagSource)
	if code := c.Parse(fs, args); code >= 0 {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		return c.Fatalf(pipeline.ExitUsage, "-c isc.yaml is required and no arguments are taken; fix: ocm-plan -c isc.yaml")
	}
	if *workers < 1 {
		return c.Fatalf(pipeline.ExitUsage, "--workers must be at least 1")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	for _, w := range cfg.Warnings {
		c.Log.Warnf("%s", w)
	}
	client, err := c.SourceClient()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	var checker *policy.Checker
	if *securePolicy {
		pol, err := policy.Load(*policyPath)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		checker = &policy.Checker{Policy: pol, Client: client}
		if *lookaside != "" {
			if checker.Lookaside, err = releasesig.NewLookaside(*lookaside, policy.LookasideFlag); err != nil {
				return c.Fatalf(pipeline.ExitUsage, "%v", err)
			}
		}
	} else if *lookaside != "" {
		return c.Fatalf(pipeline.ExitUsage, "%s is only read with --secure-policy; fix: add --secure-policy, or drop it", policy.LookasideFlag)
	}
	_, stdout, err := files.Open()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	defer files.Close(false) // unless kept below: a partial plan is no plan
	ctx, interrupted, cancel := cli.Context()
	defer cancel()
	p := &plan.Planner{Client: client, Log: c.Log, Workers: *workers}
	if pl := cfg.Spec.Platform; pl != nil && cfg.Kind == config.KindImageSet {
		if *unsigned {
			p.IgnoreSignatures = true
			c.Log.Warnf("--ignore-release-signature: release signatures are NOT verified and NOT mirrored")
		} else if p.Signatures, err = releasesig.FromEnv(); err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
	}
	if needsCache(cfg) {
		// Opened only when used: a plan of additional images writes nothing.
		cacheDir, err := cacheFlag.Dir()
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		cch, err := cache.Open(cacheDir)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		p.Cache, p.Engine = cch, c.Engine()
		p.Graph = &graphimage.Builder{Client: client, Engine: p.Engine, Cache: cch, DataURL: *graphURL, BaseImage: *graphBase}
	}
	// Records go out as they are resolved: ocm-push can start copying
	// while the plan goes on.
	w := record.NewWriter(stdout)
	tally := &pipeline.Tally{}
	var writeErr error
	err = p.Stream(ctx, cfg, func(r *record.Record) error {
		if checker != nil && !r.Done() && r.Digest != "" {
			if err := checkPolicy(ctx, checker, client, r); err != nil {
				r.Fail("plan", err)
				c.Log.Errorf("%s: %v", r.Name(), err)
			}
		}
		if writeErr = w.Write(r); writeErr != nil {
			return writeErr
		}
		tally.Add(r, false)
		if r.Status == record.StatusSkipped {
			c.Log.Infof("%s: %s", r.Source, r.Error)
		}
		return nil
	})
	if writeErr != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "writing records: %v", writeErr)
	}
	if errors.Is(err, plan.ErrCollision) {
		return c.Fatalf(pipeline.ExitUsage, "%s: %v", *cfgPath, err)
	}
	if err != nil {
		// Release problems stop the plan: a partial release is useless.
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	if interrupted() {
		// The records stop short: leave no file that looks like a plan.
		return cli.Summary(os.Stderr, c.Name, tally, nil, true)
	}
	if err := files.Close(true); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	return cli.Summary(os.Stderr, c.Name, tally, nil, interrupted())
}

// checkPolicy evaluates r's image at its source against the policy.
func checkPolicy(ctx context.Context, ch *policy.Checker, client *registry.Client, r *record.Record) error {
	repo, err := fetch.SourceRepo(client, r.Source)
	if err != nil {
		return err
	}
	err = ch.Check(ctx, repo, r.Digest)
	if err != nil && !errors.Is(err, policy.ErrRejected) {
		return fmt.Errorf("checking the signature policy: %w", err)
	}
	return err
}

// needsCache: filtered catalogs, the graph image and Helm chart artifacts
// are built in the cache, and catalogs from local OCI layouts are copied
// there.
func needsCache(cfg *config.Config) bool {
	if cfg.Kind == config.KindDelete {
		return false // nothing is rebuilt for a deletion
	}
	if pl := cfg.Spec.Platform; pl != nil && pl.Graph {
		return true
	}
	if cfg.Spec.Helm != nil {
		return true // charts are stored there as OCI artifacts
	}
	for _, op := range cfg.Spec.Operators {
		if !op.Full || len(op.Packages) > 0 || refs.IsOCI(op.Catalog) {
			return true
		}
	}
	return false
}
