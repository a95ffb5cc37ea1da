package cli

import (
	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// Policy is oc-mirror's --secure-policy with the policy file and the
// lookaside store for signedBy requirements.
type Policy struct {
	Secure          bool
	Path, Lookaside string
}

// PolicyVar adds --secure-policy, --policy and --signature-lookaside to fs.
func PolicyVar(fs *pflag.FlagSet) *Policy {
	p := &Policy{}
	fs.BoolVar(&p.Secure, "secure-policy", false, "refuse images the signature policy (--policy) does not accept; they fail alone")
	fs.StringVar(&p.Path, "policy", policy.DefaultPath, "containers-policy.json(5) for --secure-policy")
	fs.StringVar(&p.Lookaside, "signature-lookaside", "", "http(s) base URL of the lookaside store holding GPG simple signatures for the policy's signedBy requirements (<URL>/<repo>@sha256=<hex>/signature-<n>, the lookaside:/sigstore: URL of containers-registries.d(5)); default none: signedBy images are refused")
	return p
}

// Checker is the policy checker the flags ask for (nil: none).
func (p *Policy) Checker(client *registry.Client) (*policy.Checker, error) {
	return policy.NewChecker(p.Secure, p.Path, p.Lookaside, client)
}
