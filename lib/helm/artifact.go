package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
)

// Media types of a chart stored as an OCI artifact, as `helm push` writes
// it (helm.sh/helm/v3/pkg/registry), so `helm pull oci://...` reads what
// ocm pushes.
const (
	ConfigMediaType     = "application/vnd.cncf.helm.config.v1+json"
	ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	manifestMediaType   = "application/vnd.oci.image.manifest.v1+json"
)

// SourceRoot names chart artifacts in records: they exist only in the cache
// until pushed. DestinationRoot is where they land in the mirror, one
// repository per chart named as the chart (Helm's OCI rule), tagged with
// the version.
const (
	SourceRoot      = "localhost/helm/charts/"
	DestinationRoot = "helm/charts/"
)

// ErrNotChart: a helm-chart record's image is not a chart artifact.
var ErrNotChart = errors.New("not a Helm chart artifact")

// place is where chart md lands in the mirror: DestinationRoot+name, tagged
// with its version.
func place(md *chart.Metadata) (repo, tag string, err error) {
	id := md.Name + "-" + md.Version
	repo = DestinationRoot + md.Name
	if _, err := name.NewRepository("localhost/"+repo, name.StrictValidation); err != nil {
		return "", "", fmt.Errorf("chart %s: its name cannot name a repository in the mirror (%v); fix: rename the chart in lower case", id, err)
	}
	tag = strings.ReplaceAll(md.Version, "+", "_") // Helm's OCI tag rule: '+' is not allowed in tags
	if _, err := name.NewTag("localhost/"+repo+":"+tag, name.StrictValidation); err != nil {
		return "", "", fmt.Errorf("chart %s: its version cannot be a tag (%v)", id, err)
	}
	return repo, tag, nil
}

// Placed is the record of chart ch as pushed to the mirror, for a
// DeleteImageSetConfiguration: where it lands, nothing stored (its digest
// is read from the mirror when the delete list is generated).
func Placed(ch Chart) (*record.Record, error) {
	repo, tag, err := place(ch.Metadata)
	if err != nil {
		return nil, err
	}
	return &record.Record{V: record.Version, Origin: record.OriginHelmChart, Source: SourceRoot + ch.Metadata.Name + ":" + tag, Tag: tag,
		Destination: repo + ":" + tag, Status: record.StatusPlanned, Stage: "plan"}, nil
}

// Store writes ch into c as a Helm OCI artifact (the chart's metadata as
// config, the archive as its one layer) and returns its record, planned.
func Store(ctx context.Context, c *cache.Cache, ch Chart) (*record.Record, error) {
	md := ch.Metadata
	repo, tag, err := place(md)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	cfgDigest, err := c.PutBytes(ctx, cfg)
	if err != nil {
		return nil, err
	}
	layer, err := c.PutBytes(ctx, ch.Archive)
	if err != nil {
		return nil, err
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestMediaType,
		"config":        manifest.Descriptor{MediaType: ConfigMediaType, Digest: cfgDigest, Size: int64(len(cfg))},
		"layers":        []manifest.Descriptor{{MediaType: ChartLayerMediaType, Digest: layer, Size: int64(len(ch.Archive))}},
		"annotations": map[string]string{
			"org.opencontainers.image.title":   md.Name,
			"org.opencontainers.image.version": md.Version,
		},
	})
	if err != nil {
		return nil, err
	}
	digest, err := c.PutBytes(ctx, m)
	if err != nil {
		return nil, err
	}
	src := SourceRoot + md.Name + ":" + tag
	if err := c.Tag(src, manifest.Descriptor{MediaType: manifestMediaType, Digest: digest, Size: int64(len(m))}); err != nil {
		return nil, err
	}
	return &record.Record{V: record.Version, Origin: record.OriginHelmChart, Source: src, Digest: digest, Tag: tag,
		Destination: repo + ":" + tag, MediaType: manifestMediaType, Size: int64(len(m)),
		Status: record.StatusPlanned, Stage: "plan"}, nil
}

// Archive reads a helm-chart record's chart back from c: its file name as
// Helm and oc-mirror name it (<name>-<version>.tgz) and the archive. The
// archive is loaded by Helm's loader and must be the chart the artifact's
// config names, so the file name is the chart's and no path.
func Archive(c *cache.Cache, r *record.Record) (string, []byte, error) {
	body, err := c.ReadBlob(r.Digest)
	if err != nil {
		return "", nil, err
	}
	m, _, err := manifest.Parse(body, r.MediaType)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNotChart, err)
	}
	if m.Config.MediaType != ConfigMediaType || len(m.Layers) == 0 {
		return "", nil, fmt.Errorf("%w: config %s", ErrNotChart, m.Config.MediaType)
	}
	var layer string
	for _, l := range m.Layers {
		if l.MediaType == ChartLayerMediaType {
			layer = l.Digest
		}
	}
	if layer == "" {
		return "", nil, fmt.Errorf("%w: no layer of type %s", ErrNotChart, ChartLayerMediaType)
	}
	cfg, err := c.ReadBlob(m.Config.Digest)
	if err != nil {
		return "", nil, err
	}
	var md chart.Metadata
	if err := json.Unmarshal(cfg, &md); err != nil {
		return "", nil, fmt.Errorf("%w: config: %v", ErrNotChart, err)
	}
	data, err := c.ReadBlob(layer)
	if err != nil {
		return "", nil, err
	}
	ch, err := loadArchive(data, r.Source)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNotChart, err)
	}
	if ch.Name() != md.Name || ch.Metadata.Version != md.Version {
		return "", nil, fmt.Errorf("%w: the archive is chart %s-%s, the config names %s-%s", ErrNotChart, ch.Name(), ch.Metadata.Version, md.Name, md.Version)
	}
	file := md.Name + "-" + md.Version + ".tgz"
	if md.Name == "" || file != filepath.Base(file) || strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") {
		return "", nil, fmt.Errorf("%w: chart name %q is not a file name", ErrNotChart, md.Name)
	}
	return file, data, nil
}

// localChart loads a local chart (a directory or an archive) and returns
// it with its archive: a file as read, a directory packaged by Helm with
// fixed times, so one directory gives one digest.
func localChart(path string) (*chart.Chart, []byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		b, err := capread.File(path, maxBytes)
		if err != nil {
			return nil, nil, err
		}
		ch, err := loadArchive(b, "the chart archive")
		return ch, b, err
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "ocm-chart-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	file, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := fixTimes(f)
	return ch, b, err
}

// fixTimes rewrites a gzipped tarball with every entry's times at the epoch.
func fixTimes(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Header.Extra, zw.Header.Comment = zr.Header.Extra, zr.Header.Comment // Helm marks its archives there
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.ModTime, h.AccessTime, h.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
