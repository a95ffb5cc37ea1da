// Package graphimage builds the update graph data image the OpenShift Update
// Service (OSUS) reads in a disconnected cluster: a base image plus one layer
// holding the Cincinnati graph data under /var/lib/cincinnati-graph-data,
// whose command copies it where the service looks.
package graphimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/imagebuild"
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
	// HTTP downloads the graph data: Client.HTTPClient() when nil, so
	// --retries, --idle-timeout and the TLS policy hold for it.
	HTTP *http.Client
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
	// Locked while in use, so a cache opened meanwhile keeps it (see
	// atomicfile.CleanStale).
	tmp, err := atomicfile.Temp(b.Cache.Dir, "graph-layer")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := b.dataLayer(ctx, url, tmp); err != nil {
		return nil, fmt.Errorf("graph image: %w", err)
	}
	layer, err := tarball.LayerFromFile(tmp.Name())
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
	// The base plus our layer and command.
	baseImg, err := imagebuild.Image(b.Cache, img.Digest)
	if err != nil {
		return nil, fmt.Errorf("graph image: base image %s: %w", base, err)
	}
	built, err := imagebuild.Apply(baseImg, imagebuild.Change{
		Layer:     layer,
		CreatedBy: "ocm: update graph data from " + url,
		Config: func(c *v1.Config) error {
			c.Cmd = []string{"/bin/bash", "-c", "exec cp -rp /" + dataDir + "/* /var/lib/cincinnati/graph-data"}
			c.Entrypoint = nil
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("graph image: %w", err)
	}
	desc, err := imagebuild.Write(ctx, b.Cache, built)
	if err != nil {
		return nil, fmt.Errorf("graph image: %w", err)
	}
	if err := b.Cache.Tag(Source, desc); err != nil {
		return nil, err
	}
	return &record.Record{V: record.Version, Origin: record.OriginGraph, Source: Source, Digest: desc.Digest, Tag: "latest",
		Destination: Destination, MediaType: desc.MediaType, Size: desc.Size,
		Status: record.StatusPlanned, Stage: "plan"}, nil
}

// dataLayer streams the graph-data tarball into w as a gzipped layer whose
// entries sit under /var/lib/cincinnati-graph-data.
func (b *Builder) dataLayer(ctx context.Context, url string, w io.Writer) error {
	hc := b.HTTP
	if hc == nil {
		hc = b.Client.HTTPClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("graph data (%s sets it): %w", DataURLEnv, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("graph data from %s: %s; fix: check the URL, or set %s", url, resp.Status, DataURLEnv)
	}
	zr, err := gzip.NewReader(resp.Body)
	if errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("graph data from %s is not a gzipped tarball: %v", url, err)
	} else if err != nil {
		return fmt.Errorf("graph data from %s: %w", url, err) // a stall or a cut: typed for the caller
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	if err := relayout(tar.NewReader(zr), tw); err != nil {
		return fmt.Errorf("graph data from %s: %w", url, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
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
