package catalog

import (
	"archive/tar"
	"context"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/imagebuild"
	"github.com/ocm-mirror/ocm/lib/imagefs"
)

// ConfigsDir is where a catalog image keeps its declarative config.
func ConfigsDir(img *imagefs.Image) string {
	d := img.Config.Config.Labels[ConfigsLabel]
	if d == "" {
		d = "/configs"
	}
	return strings.Trim(path.Clean("/"+d), "/")
}

// ServeCacheDir is the serve cache the catalog's command points at
// (opm serve --cache-dir=DIR), or "".
func ServeCacheDir(img *imagefs.Image) string {
	args := append(append([]string(nil), img.Config.Config.Entrypoint...), img.Config.Config.Cmd...)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--cache-dir="); ok {
			return strings.Trim(path.Clean("/"+v), "/")
		}
		if a == "--cache-dir" && i+1 < len(args) {
			return strings.Trim(path.Clean("/"+args[i+1]), "/")
		}
	}
	return ""
}

// serveCacheFlags are opm serve's flags about a pre-built serve cache: the
// string one takes a value ("--cache-dir=V" or "--cache-dir V"), the bool ones
// only "--flag" or "--flag=V" (pflag never takes a bool's value from the next
// argument).
var serveCacheFlags = map[string]bool{"--cache-dir": true, "--cache-only": false, "--cache-enforce-integrity": false}

// ServeArgs returns entrypoint and cmd without opm serve's cache flags, and
// whether any was dropped. A rebuilt catalog cannot ship a serve cache that
// the opm inside the image accepts (its format and digest belong to that opm
// version, unknown to us), and since operator-registry v1.28 --cache-dir
// alone enforces the cache's integrity, so the original command dies on the
// new configs. Without the flags opm builds its cache at start, in a temp
// directory, as oc-mirror's rebuilt catalogs do. Every other argument, and
// the split between entrypoint and cmd, is kept.
func ServeArgs(entrypoint, cmd []string) (newEntrypoint, newCmd []string, changed bool) {
	all := append(append([]string(nil), entrypoint...), cmd...)
	drop := make([]bool, len(all))
	for i := 0; i < len(all); i++ {
		a := all[i]
		if a == "--" {
			break // the rest is positional
		}
		flag, _, hasValue := strings.Cut(a, "=")
		takesValue, ok := serveCacheFlags[flag]
		if !ok {
			continue
		}
		drop[i], changed = true, true
		if takesValue && !hasValue && i+1 < len(all) {
			i++
			drop[i] = true
		}
	}
	if !changed {
		return entrypoint, cmd, false
	}
	keep := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			if !drop[i] {
				out = append(out, all[i])
			}
		}
		return out
	}
	return keep(0, len(entrypoint)), keep(len(entrypoint), len(all)), true
}

// Layer makes the layer that replaces a catalog's declarative config with
// files (paths relative to the image root) and hides the stale serve cache:
// opaque whiteouts on both directories, then the new files.
func Layer(configsDir, serveCache string, files map[string][]byte) (v1.Layer, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	return imagebuild.Layer(layerEntries(configsDir, serveCache, names, func(n string) imagebuild.Entry {
		return imagebuild.Entry{Body: files[n]}
	}))
}

// layerEntries are the entries of Layer: the whiteouts, then the files
// named (sorted), each with its directory, file(name) giving the content.
func layerEntries(configsDir, serveCache string, names []string, file func(name string) imagebuild.Entry) []imagebuild.Entry {
	mtime := time.Unix(0, 0)
	var entries []imagebuild.Entry
	dir := func(name string) {
		entries = append(entries, imagebuild.Entry{Header: tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}})
	}
	opaque := func(d string) {
		dir(d)
		entries = append(entries, imagebuild.Entry{Header: tar.Header{Name: d + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}})
	}
	opaque(configsDir)
	if serveCache != "" && serveCache != configsDir {
		// The rebuilt command no longer reads it (see ServeArgs), and a
		// stale cache left in the image would serve the unfiltered
		// catalog to whoever starts it with --cache-dir.
		opaque(serveCache)
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	made := map[string]bool{configsDir: true}
	for _, n := range names {
		if d := path.Dir(n); !made[d] {
			dir(d)
			made[d] = true
		}
		e := file(n)
		e.Header.Name, e.Header.Typeflag, e.Header.Mode, e.Header.ModTime = n, tar.TypeReg, 0o644, mtime
		entries = append(entries, e)
	}
	return entries
}

// Rebuild writes into c a copy of the catalog image manifest (or index)
// digest with layer added on top of every platform's image, and its start
// command without the serve cache flags (ServeArgs). The original's
// blobs must already be in c. It returns the new manifest digest, media type
// and size.
func Rebuild(ctx context.Context, c *cache.Cache, digest string, layer v1.Layer) (string, string, int64, error) {
	d, err := imagebuild.Rebuild(ctx, c, digest, func(base v1.Image) (v1.Image, error) {
		return imagebuild.Apply(base, imagebuild.Change{
			Layer:     layer,
			CreatedBy: "ocm: filtered declarative config",
			Config: func(cfg *v1.Config) error {
				if ep, cmd, changed := ServeArgs(cfg.Entrypoint, cfg.Cmd); changed {
					cfg.Entrypoint, cfg.Cmd = ep, cmd
				}
				return nil
			},
		})
	})
	if err != nil {
		return "", "", 0, err
	}
	return d.Digest, d.MediaType, d.Size, nil
}
