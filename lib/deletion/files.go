package deletion

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// KeepSet reads the image set to keep (--keep; "": none): records (.jsonl,
// .json), or an image set configuration, planned against its sources (the
// client is made only then).
func KeepSet(ctx context.Context, path string, source func() (*registry.Client, error), log *logging.Logger) ([]*record.Record, error) {
	if path == "" {
		return nil, nil
	}
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
	src, err := source()
	if err != nil {
		return nil, err
	}
	return (&plan.Planner{Client: src, Log: log}).Plan(ctx, cfg)
}

// ErrBadDeleteID: a --delete-id that cannot be part of a file name.
var ErrBadDeleteID = errors.New("the delete id must be letters, digits, '.', '_' or '-'")

var deleteID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*$`)

// ListPath is where --generate writes the list: WORKSPACE/delete/
// delete-images.yaml, or delete-images-ID.yaml with --delete-id ID, as
// oc-mirror names them.
func ListPath(workspace, id string) (string, error) {
	file := "delete-images.yaml"
	if id != "" {
		if !deleteID.MatchString(id) || len(id) > 128 {
			return "", fmt.Errorf("--delete-id %q: %w; fix: e.g. --delete-id 2024-06-cleanup", id, ErrBadDeleteID)
		}
		file = "delete-images-" + id + ".yaml"
	}
	return filepath.Join(workspace, "delete", file), nil
}

// WriteList generates the list for recs and writes it to path (ListPath),
// saying how to delete it from mirror (docker://HOST[/PREFIX] as given).
func (g *Generator) WriteList(ctx context.Context, recs []*record.Record, path, mirror string) error {
	l, err := g.Generate(ctx, recs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := Write(path, l); err != nil {
		return err
	}
	shared, attached := 0, 0
	for _, it := range l.Items {
		if len(it.SharedWith) > 0 {
			shared++
		}
		if it.Attached != "" {
			attached++
		}
	}
	g.Log.Infof("%d manifests to delete (%d shared with other tags, %d signatures and referrers) listed in %s; review it, then run ocm-delete --delete-yaml-file %s %s", len(l.Items), shared, attached, path, path, mirror)
	return nil
}

// Forget removes the images res deleted or found gone from the cache
// (--force-cache-delete): the blobs no other cached image uses.
func Forget(c *cache.Cache, res *Result, log *logging.Logger) error {
	var sources []string
	for _, it := range append(res.Deleted, res.Gone...) {
		if it.Source != "" {
			sources = append(sources, it.Source)
		}
	}
	n, freed, err := c.Forget(sources)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	log.Infof("cache: removed %d images, %d blobs (%s) no other cached image uses", len(sources), n, progress.HumanBytes(freed))
	return nil
}
