package cli

import (
	"github.com/ocm-mirror/ocm/lib/auth"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registriesconf"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/retry"
	"net/http"
)

func (c *Common) retry() retry.Policy {
	p := retry.Default
	p.Attempts = c.Retries
	if d, ok := c.retryPolicyDelay(); ok {
		p.Base = d
		p.Max = max(p.Max, d)
	}
	return p
}

func (c *Common) client(verify bool, certDir string, source bool) (*registry.Client, error) {
	kc, err := auth.NewKeychain(c.AuthFile)
	if err != nil {
		return nil, err
	}
	var mirrors *registriesconf.Config
	if source {
		if mirrors, err = registriesconf.Load(c.RegConf); err != nil {
			return nil, err
		}
		if len(mirrors.Registries) == 0 {
			mirrors = nil
		} else {
			c.Log.Debugf("registries.conf: %v", mirrors.Files)
		}
	}
	return registry.New(registry.Options{
		Mirrors:   mirrors,
		Keychain:  kc,
		TLSVerify: verify,
		CertDir:   certDir,
		Retry:     c.retry(),
		MaxConns:  max(32, c.BlobWorkers+c.ImageWorkers+2),
		Logf:      c.Log.Debugf,
		OnRetry:   func() { c.clientRetries.Add(1) },
		// Each stall is logged with its retry; the summary counts them.
		IdleTimeout: c.IdleTimeout,
		OnStall:     func() { c.clientStalls.Add(1) },
	}), nil
}

// ClientStalls is how many registry requests stalled past --idle-timeout.
func (c *Common) ClientStalls() int64 { return c.clientStalls.Load() }

// ClientRetries is how many registry requests the clients made by c retried.
func (c *Common) ClientRetries() int64 { return c.clientRetries.Load() }

// SourceClient reaches source registries (--src-tls-verify).
func (c *Common) SourceClient() (*registry.Client, error) {
	return c.client(c.SrcTLSVerify, c.SrcCertDir, true)
}

// SourceHTTP is the HTTP client of SourceClient, for downloads that are
// not registry requests (a signature store, an update graph).
func (c *Common) SourceHTTP() (*http.Client, error) {
	src, err := c.SourceClient()
	if err != nil {
		return nil, err
	}
	return src.HTTPClient(), nil
}

// DestClient reaches the mirror registry (--dest-tls-verify).
func (c *Common) DestClient() (*registry.Client, error) {
	return c.client(c.DstTLSVerify, c.DstCertDir, false)
}

// Engine is the copy engine sized by --blob-workers.
func (c *Common) Engine() *copier.Engine {
	return copier.New(copier.Options{BlobWorkers: c.BlobWorkers, Logf: c.Log.Warnf})
}

// Mirror reads the mirror argument (docker://HOST[/PREFIX]) and makes the
// client that reaches it; its errors are bad input (exit 2).
func (c *Common) Mirror(arg string) (refs.Mirror, *registry.Client, error) {
	m, err := refs.ParseMirror(arg)
	if err != nil {
		return m, nil, Usage(err)
	}
	dst, err := c.DestClient()
	if err != nil {
		return m, nil, Usage(err)
	}
	// A broken certs.d folder for the mirror is bad config: said now,
	// before any image is tried.
	return m, dst, Usage(dst.CheckCerts(m.Registry))
}
