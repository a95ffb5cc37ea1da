package plan

import (
	"net/http"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/graphimage"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// LoadConfig loads the image set configuration at path and logs its
// warnings.
func (p *Planner) LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		p.Log.Warnf("%s", w)
	}
	return cfg, nil
}

// NeedsCache tells whether planning cfg writes to a cache: filtered
// catalogs, the graph image and Helm chart artifacts are built there, and
// catalogs from local OCI layouts are copied there.
func NeedsCache(cfg *config.Config) bool {
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

// UseSignatures sets how cfg's release payloads' signatures are checked:
// fetched and verified as the environment says, or, with ignore, not at
// all (logged). Only an image set with releases needs them.
func (p *Planner) UseSignatures(cfg *config.Config, ignore bool) (err error) {
	if cfg.Spec.Platform == nil || cfg.Kind != config.KindImageSet {
		return nil
	}
	if ignore {
		p.IgnoreSignatures = true
		p.Log.Warnf("--ignore-release-signature: release signatures are NOT verified and NOT mirrored")
		return nil
	}
	if p.Signatures, err = releasesig.FromEnv(); err != nil {
		return err
	}
	p.Signatures.Store.HTTP = p.httpClient()
	return nil
}

// httpClient is the client of every plain HTTP(S) download the plan makes
// (Helm repositories, the update service, graph data, signature stores):
// the source registry client's transport, so --retries, --idle-timeout and
// --src-tls-verify hold there too. Nil without a client (net/http's).
func (p *Planner) httpClient() *http.Client {
	if p.Client == nil {
		return nil
	}
	return p.Client.HTTPClient()
}

// UseCache opens the cache when planning cfg writes to one (NeedsCache: a
// plan of additional images writes nothing), and makes p build filtered
// catalogs and the update graph image (from graphURL, on graphBase) there.
func (p *Planner) UseCache(cfg *config.Config, open func() (*cache.Cache, error), eng func() *copier.Engine, graphURL, graphBase string) error {
	if !NeedsCache(cfg) {
		return nil
	}
	c, err := open()
	if err != nil {
		return err
	}
	p.Cache, p.Engine = c, eng()
	p.Graph = &graphimage.Builder{Client: p.Client, Engine: p.Engine, Cache: c, DataURL: graphURL, BaseImage: graphBase, HTTP: p.httpClient()}
	return nil
}
