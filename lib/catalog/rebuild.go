package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/verify"
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
func Layer(configsDir, serveCache string, files map[string][]byte) (blob []byte, diffID string, err error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	mtime := time.Unix(0, 0)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
	}
	opaque := func(d string) error {
		if err := dir(d); err != nil {
			return err
		}
		return tw.WriteHeader(&tar.Header{Name: d + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime})
	}
	if err := opaque(configsDir); err != nil {
		return nil, "", err
	}
	if serveCache != "" && serveCache != configsDir {
		// The rebuilt command no longer reads it (see ServeArgs), and a
		// stale cache left in the image would serve the unfiltered
		// catalog to whoever starts it with --cache-dir.
		if err := opaque(serveCache); err != nil {
			return nil, "", err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{configsDir: true}
	for _, n := range names {
		if d := path.Dir(n); !made[d] {
			if err := dir(d); err != nil {
				return nil, "", err
			}
			made[d] = true
		}
		b := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = verify.Digest(tb.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	return gz.Bytes(), diffID, nil
}

// Rebuild writes into c a copy of the catalog image manifest (or index)
// digest with layer added on top of every platform's image, and its start
// command without the serve cache flags (ServeArgs). The original's
// blobs must already be in c. It returns the new manifest digest, media type
// and size.
func Rebuild(ctx context.Context, c *cache.Cache, digest string, layer []byte, diffID string) (string, string, int64, error) {
	layerDigest, err := c.PutBytes(ctx, layer)
	if err != nil {
		return "", "", 0, err
	}
	body, err := c.ReadBlob(digest)
	if err != nil {
		return "", "", 0, err
	}
	m, mt, err := manifest.Parse(body, "")
	if err != nil {
		return "", "", 0, err
	}
	if manifest.IsIndex(mt) {
		var idx map[string]any
		if err := json.Unmarshal(body, &idx); err != nil {
			return "", "", 0, err
		}
		entries, _ := idx["manifests"].([]any)
		for i, d := range m.Manifests {
			nd, nmt, ns, err := Rebuild(ctx, c, d.Digest, layer, diffID)
			if err != nil {
				return "", "", 0, fmt.Errorf("platform %s: %w", d.Platform, err)
			}
			e, _ := entries[i].(map[string]any)
			e["digest"], e["mediaType"], e["size"] = nd, nmt, ns
		}
		nb, _ := json.Marshal(idx)
		nd, err := c.PutBytes(ctx, nb)
		return nd, mt, int64(len(nb)), err
	}
	// One image: new config (diff ID and history appended), new manifest.
	cfgBytes, err := c.ReadBlob(m.Config.Digest)
	if err != nil {
		return "", "", 0, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return "", "", 0, fmt.Errorf("catalog config: %v", err)
	}
	rootfs, _ := cfg["rootfs"].(map[string]any)
	if rootfs == nil {
		return "", "", 0, fmt.Errorf("catalog config has no rootfs")
	}
	ids, _ := rootfs["diff_ids"].([]any)
	rootfs["diff_ids"] = append(ids, diffID)
	hist, _ := cfg["history"].([]any)
	cfg["history"] = append(hist, map[string]any{"created": time.Unix(0, 0).UTC(), "created_by": "ocm: filtered declarative config"})
	if err := serveWithoutCache(cfg); err != nil {
		return "", "", 0, err
	}
	nc, _ := json.Marshal(cfg)
	ncd, err := c.PutBytes(ctx, nc)
	if err != nil {
		return "", "", 0, err
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return "", "", 0, err
	}
	rc, _ := raw["config"].(map[string]any)
	rc["digest"], rc["size"] = ncd, len(nc)
	layers, _ := raw["layers"].([]any)
	lmt := "application/vnd.oci.image.layer.v1.tar+gzip"
	if mt == manifest.DockerV2 {
		lmt = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	raw["layers"] = append(layers, map[string]any{"mediaType": lmt, "digest": layerDigest, "size": len(layer)})
	nb, _ := json.Marshal(raw)
	nd, err := c.PutBytes(ctx, nb)
	return nd, mt, int64(len(nb)), err
}

// serveWithoutCache drops the serve cache flags from an image config's
// Entrypoint and Cmd (see ServeArgs).
func serveWithoutCache(cfg map[string]any) error {
	c, _ := cfg["config"].(map[string]any)
	if c == nil {
		return nil
	}
	strs := func(key string) ([]string, error) {
		v, ok := c[key]
		if !ok || v == nil {
			return nil, nil
		}
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("catalog config: config.%s is %T, not a list of strings", key, v)
		}
		out := make([]string, len(l))
		for i, e := range l {
			if out[i], ok = e.(string); !ok {
				return nil, fmt.Errorf("catalog config: config.%s[%d] is %T, not a string", key, i, e)
			}
		}
		return out, nil
	}
	ep, err := strs("Entrypoint")
	if err != nil {
		return err
	}
	cmd, err := strs("Cmd")
	if err != nil {
		return err
	}
	nep, ncmd, changed := ServeArgs(ep, cmd)
	if !changed {
		return nil
	}
	if _, ok := c["Entrypoint"]; ok {
		c["Entrypoint"] = nep
	}
	if _, ok := c["Cmd"]; ok {
		c["Cmd"] = ncmd
	}
	return nil
}
