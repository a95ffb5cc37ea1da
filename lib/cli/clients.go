package cli

import (
	"github.com/ocm-mirror/ocm/lib/auth"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/retry"
)

func (c *Common) retry() retry.Policy {
	p := retry.Default
	p.Attempts = c.Retries
	return p
}

func (c *Common) client(verify bool) (*registry.Client, error) {
	kc, err := auth.NewKeychain(c.AuthFile)
	if err != nil {
		return nil, err
	}
	return registry.New(registry.Options{
		Keychain:  kc,
		TLSVerify: verify,
		Retry:     c.retry(),
		MaxConns:  c.BlobWorkers + c.ImageWorkers + 2,
		Logf:      c.Log.Debugf,
	}), nil
}

// SourceClient reaches source registries (--src-tls-verify).
func (c *Common) SourceClient() (*registry.Client, error) { return c.client(c.SrcTLSVerify) }

// DestClient reaches the mirror registry (--dest-tls-verify).
func (c *Common) DestClient() (*registry.Client, error) { return c.client(c.DstTLSVerify) }

// Engine is the copy engine sized by --blob-workers.
func (c *Common) Engine() *copier.Engine {
	return copier.New(copier.Options{BlobWorkers: c.BlobWorkers, Retry: c.retry(), Logf: c.Log.Warnf})
}
