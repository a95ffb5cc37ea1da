package policy

import (
	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/registry"
)

// Flags are oc-mirror's --secure-policy with the policy file and the
// lookaside store for signedBy requirements. They live here, not in lib/cli,
// so that only the command that checks policies links the verifiers.
type Flags struct {
	Secure          bool
	Path, Lookaside string
}

// FlagsVar adds --secure-policy, --policy and --signature-lookaside to fs.
func FlagsVar(fs *pflag.FlagSet) *Flags {
	p := &Flags{}
	fs.BoolVar(&p.Secure, "secure-policy", false, "refuse images the signature policy (--policy) does not accept; they fail alone")
	fs.StringVar(&p.Path, "policy", DefaultPath, "containers-policy.json(5) for --secure-policy")
	fs.StringVar(&p.Lookaside, "signature-lookaside", "", "http(s) base URL of the lookaside store holding GPG simple signatures for the policy's signedBy requirements (<URL>/<repo>@sha256=<hex>/signature-<n>, the lookaside:/sigstore: URL of containers-registries.d(5)); default none: signedBy images are refused")
	return p
}

// Checker is the policy checker the flags ask for (nil: none).
func (p *Flags) Checker(client *registry.Client) (*Checker, error) {
	return NewChecker(p.Secure, p.Path, p.Lookaside, client)
}
