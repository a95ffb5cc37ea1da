// Package graphimage builds the update graph data image the OpenShift Update
// Service (OSUS) reads in a disconnected cluster: a base image plus one layer
// holding the Cincinnati graph data under /var/lib/cincinnati-graph-data,
// whose command copies it where the service looks.
package graphimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// Defaults, overridable by flags or the environment.
const (
	DefaultDataURL   = "https://api.openshift.com/api/upgrades_info/graph-data"
	DefaultBaseImage = "registry.access.redhat.com/ubi9/ubi:latest"
	DataURLEnv       = "GRAPH_DATA_URL_OVERRIDE"
	// Source names the built image in records (it exists only in the cache
	// until pushed); Destination is where it lands in the mirror.
	Source      = "localhost/openshift/graph-image:latest"
	Destination = "openshift/graph-image:latest"
	dataDir     = "var/lib/cincinnati-graph-data"
)

// Builder makes the graph image in a cache.
type Builder struct {
	Client    *registry.Client
	Engine    *copier.Engine
	Cache     *cache.Cache
	DataURL   string // "" = $GRAPH_DATA_URL_OVERRIDE or DefaultDataURL
	BaseImage string // "" = DefaultBaseImage
	HTTP      *http.Client
}

// Build downloads the graph data, builds the image into the cache and
// returns its record (status planned).
func (b *Builder) Build(ctx context.Context) (*record.Record, error) {
	url := b.DataURL
	if url == "" {
		url = os.Getenv(DataURLEnv)
	}
	if url == "" {
		url = DefaultDataURL
	}
	base := b.BaseImage
	if base == "" {
		base = DefaultBaseImage
	}
	layer, diffID, size, err := b.dataLayer(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("graph image: %w", err)
	}
	// The base image, its linux/amd64 variant, into the cache.
	ref, err := name.ParseReference(base)
	if err != nil {
		return nil, fmt.Errorf("graph image: base image %q: %w", base, err)
	}
	repo, err := b.Client.Repository(ref.Context().Name())
	if err != nil {
		return nil, err
	}
	src := &registry.Repo{Client: b.Client, Name: repo}
	_, _, digest, err := b.Client.Manifest(ctx, repo, ref.Identifier())
	if err != nil {
		return nil, fmt.Errorf("graph image: base image %s: %w", base, err)
	}
	img, err := imagefs.Resolve(ctx, src, digest, "linux/amd64")
	if err != nil {
		return nil, fmt.Errorf("graph image: base image %s: %w", base, err)
	}
	if _, err := b.Engine.Copy(ctx, src, img.Digest, b.Cache, base); err != nil {
		return nil, fmt.Errorf("graph image: caching base image %s: %w", base, err)
	}
	// New config: the base's, plus our layer and command.
	rawCfg, err := b.Cache.ReadBlob(img.Manifest.Config.Digest)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("graph image: base config: %v", err)
	}
	rootfs, _ := cfg["rootfs"].(map[string]any)
	if rootfs == nil {
		return nil, fmt.Errorf("graph image: base config has no rootfs")
	}
	ids, _ := rootfs["diff_ids"].([]any)
	rootfs["diff_ids"] = append(ids, diffID)
	inner, _ := cfg["config"].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
	}
	inner["Cmd"] = []string{"/bin/bash", "-c", "exec cp -rp /" + dataDir + "/* /var/lib/cincinnati/graph-data"}
	delete(inner, "Entrypoint")
	cfg["config"] = inner
	hist, _ := cfg["history"].([]any)
	cfg["history"] = append(hist, map[string]any{"created_by": "ocm: update graph data from " + url, "created": time.Unix(0, 0).UTC()})
	cfgBytes, _ := json.Marshal(cfg)
	cfgDigest, err := b.Cache.PutBytes(ctx, cfgBytes)
	if err != nil {
		return nil, err
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	var layers []desc
	for _, l := range img.Manifest.Layers {
		layers = append(layers, desc{l.MediaType, l.Digest, l.Size})
	}
	layers = append(layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", layer, size})
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc{"application/vnd.oci.image.config.v1+json", cfgDigest, int64(len(cfgBytes))},
		"layers":        layers,
	}
	mb, _ := json.Marshal(m)
	md, err := b.Cache.PutBytes(ctx, mb)
	if err != nil {
		return nil, err
	}
	if err := b.Cache.Tag(Source, manifest.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: int64(len(mb))}); err != nil {
		return nil, err
	}
	return &record.Record{V: record.Version, Origin: record.OriginGraph, Source: Source, Digest: md, Tag: "latest",
		Destination: Destination, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(mb)),
		Status: record.StatusPlanned, Stage: "plan"}, nil
}

// dataLayer streams the graph-data tarball into a layer whose entries sit
// under /var/lib/cincinnati-graph-data, written to the cache. It returns
// the layer digest, its uncompressed digest (diff ID) and size.
func (b *Builder) dataLayer(ctx context.Context, url string) (digest, diffID string, size int64, err error) {
	hc := b.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", "", 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", 0, fmt.Errorf("graph data from %s: %w; fix: check access, or set %s", url, err, DataURLEnv)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", 0, fmt.Errorf("graph data from %s: %s; fix: check the URL, or set %s", url, resp.Status, DataURLEnv)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return "", "", 0, fmt.Errorf("graph data from %s is not a gzipped tarball: %v", url, err)
	}
	// Locked while in use, so a cache opened meanwhile keeps it (see
	// atomicfile.CleanStale).
	tmp, err := atomicfile.Temp(b.Cache.Dir, "graph-layer")
	if err != nil {
		return "", "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	compressed := sha256.New()
	uncompressed := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(tmp, compressed))
	tw := tar.NewWriter(io.MultiWriter(zw, uncompressed))
	if err := relayout(tar.NewReader(zr), tw); err != nil {
		return "", "", 0, fmt.Errorf("graph data from %s: %w", url, err)
	}
	if err := tw.Close(); err != nil {
		return "", "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", "", 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", "", 0, err
	}
	digest = sum(compressed)
	n, err := b.Cache.Put(ctx, digest, -1, tmp)
	if err != nil {
		return "", "", 0, err
	}
	if n == 0 {
		_, n = b.Cache.Has(digest)
	}
	return digest, sum(uncompressed), n, nil
}

// relayout copies tar entries, placing them under dataDir.
func relayout(tr *tar.Reader, tw *tar.Writer) error {
	hdr := &tar.Header{Name: dataDir + "/", Typeflag: tar.TypeDir, Mode: 0o755}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if clean == "" || clean == "." {
			continue
		}
		h.Name = dataDir + "/" + clean
		if h.Typeflag == tar.TypeLink {
			h.Linkname = dataDir + "/" + strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
		}
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

func sum(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
