// Package registry speaks the OCI distribution protocol to one or more
// registries: manifests and blobs, streamed, with cross-repository mounts.
// Authentication and the scheme handshake come from go-containerregistry's
// transport package; everything else is plain HTTP so that the copy engine
// sees exactly what moved (bytes read, blobs mounted, blobs skipped).
package registry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ocm-mirror/ocm/lib/registriesconf"
	"github.com/ocm-mirror/ocm/lib/retry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Options configure a Client.
type Options struct {
	Keychain authn.Keychain // nil: anonymous
	// TLSVerify false allows plain HTTP and unverified certificates. With it
	// true, plain HTTP is only tried for loopback registries.
	TLSVerify bool
	Retry     retry.Policy
	// MaxConns bounds connections per registry host (blob workers + some).
	MaxConns int
	// Base is the innermost transport (tests inject faults here); nil: a tuned default.
	Base http.RoundTripper
	// Logf hears about retries; nil: silent.
	Logf func(format string, args ...any)
	// OnRetry, when set, is called once per request retried (for the
	// summary's retry count).
	OnRetry func()
	// IdleTimeout bounds how long a registry may send nothing: between
	// bytes of a response, or before answering a request without a body.
	// A stall is a transient error, retried. 0: no bound.
	IdleTimeout time.Duration
	// OnStall, when set, is called once per request that stalled.
	OnStall func()
	// CertDir, when set, is the one containers-certs.d(5) host folder used
	// for every registry (--src-cert-dir, --dest-cert-dir); else each
	// host's folder is looked for under CertRoots.
	CertDir string
	// CertRoots are the certs.d folders; nil: DefaultCertRoots.
	CertRoots []string
	// Mirrors, when set, redirect reads (manifests and blobs) to the
	// registries.conf mirrors of the source, tried in order before it.
	Mirrors *registriesconf.Config
}

// Client talks to registries. It is safe for concurrent use; authenticated
// transports are made once per repository and access level.
type Client struct {
	opts  Options
	base  http.RoundTripper
	guard *guard     // inside base: refuses plain HTTP off loopback when verifying
	certs *certStore // per-host CAs and client certificates (certs.d)
	hop   *realmHop  // base, for handshakes: where a token service may be

	mu             sync.Mutex
	transports     map[string]*handshakeResult // per registry and scope
	hosts          map[string]*handshakeResult // per registry and credentials
	served         sync.Map                    // repository name -> mirror registry that served it
	noReferrersAPI sync.Map                    // registry host -> struct{}: it answered that it has no referrers API
}

// handshakeResult is made once and shared by every caller; a failed one is
// forgotten so that a later call tries again (the registry may come back).
type handshakeResult struct {
	once sync.Once
	rt   http.RoundTripper // nil from hostTransport: the registry hands out per-repository tokens
	err  error
}

// shared returns m[key], made by fill on first use.
func (c *Client) shared(m map[string]*handshakeResult, key string, fill func(*handshakeResult)) *handshakeResult {
	c.mu.Lock()
	h, ok := m[key]
	if !ok {
		h = &handshakeResult{}
		m[key] = h
	}
	c.mu.Unlock()
	h.once.Do(func() { fill(h) })
	if h.err != nil {
		c.mu.Lock()
		if m[key] == h {
			delete(m, key)
		}
		c.mu.Unlock()
	}
	return h
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Retry.Attempts == 0 {
		opts.Retry = retry.Default
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 16
	}
	if opts.CertRoots == nil {
		opts.CertRoots = DefaultCertRoots()
	}
	certs := &certStore{dir: opts.CertDir, roots: opts.CertRoots, byHost: map[string]*hostCerts{}}
	base := opts.Base
	if base == nil {
		base = &hostTLS{certs: certs, def: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   30 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          opts.MaxConns * 4,
			MaxIdleConnsPerHost:   opts.MaxConns,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   15 * time.Second,
			ExpectContinueTimeout: 1 * time.Second,
			ResponseHeaderTimeout: 5 * time.Minute,
			TLSClientConfig:       &tls.Config{InsecureSkipVerify: !opts.TLSVerify}, //nolint:gosec // the user's --tls-verify=false
		}}
	}
	g := newGuard(base, opts.TLSVerify)
	g.idle, g.onStall = opts.IdleTimeout, opts.OnStall
	return &Client{opts: opts, base: g, guard: g, certs: certs, hop: newRealmHop(g), transports: map[string]*handshakeResult{}, hosts: map[string]*handshakeResult{}}
}

// scheme is the scheme of the URLs we build for repo: https unless plain
// HTTP is allowed there (verification off, loopback, registries.conf
// insecure), where go-containerregistry's handshake picks the one that
// answers. Its own pick (http for private addresses) is not used.
func (c *Client) scheme(repo name.Repository) string {
	if c.guard.plainOK(repo.RegistryStr()) {
		return repo.Scheme()
	}
	return "https"
}

// Repository parses "host/path" into a repository the client can use,
// honouring the client's TLS setting.
func (c *Client) Repository(s string) (name.Repository, error) {
	var opts []name.Option
	if !c.opts.TLSVerify {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(s, opts...)
}

// SourceRepo is the repository of an image reference (host/repo:tag or
// @digest), as c reaches it.
func (c *Client) SourceRepo(source string) (name.Repository, error) {
	ref, err := name.ParseReference(source)
	if err != nil {
		return name.Repository{}, fmt.Errorf("bad source reference %q: %w", source, err)
	}
	return c.Repository(ref.Context().Name())
}

// transport returns an authenticated round tripper for repo with the given
// access ("pull" or "push,pull").
func (c *Client) transport(ctx context.Context, repo name.Repository, push bool) (http.RoundTripper, error) {
	scope := repo.Scope(transport.PullScope)
	if push {
		scope = repo.Scope(transport.PushScope) + ",pull"
	}
	h := c.shared(c.transports, repo.RegistryStr()+" "+scope, func(h *handshakeResult) {
		var auth authn.Authenticator = authn.Anonymous
		if c.opts.Keychain != nil {
			a, err := c.opts.Keychain.Resolve(repo)
			if err != nil {
				h.err = fmt.Errorf("credentials for %s: %w", repo, err)
				return
			}
			auth = a
		}
		if h.rt, h.err = c.hostTransport(ctx, repo, auth, scope); h.rt != nil || h.err != nil {
			return
		}
		h.rt, h.err = c.handshake(ctx, repo, auth, scope, false)
	})
	return h.rt, h.err
}

// hostTransport returns the transport shared by every repository of repo's
// registry when that registry needs no per-repository token (anonymous or
// Basic auth): one handshake then serves a mirror of thousands of
// repositories. It returns nil, nil for token registries.
func (c *Client) hostTransport(ctx context.Context, repo name.Repository, auth authn.Authenticator, scope string) (http.RoundTripper, error) {
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	// Keyed by the credentials too: an auth file may hold different ones
	// per namespace. Hashed, so no secret sits in a map key.
	sum := sha256.Sum256([]byte(repo.RegistryStr() + "\x00" + cfg.Username + "\x00" + cfg.Password + "\x00" + cfg.Auth + "\x00" + cfg.IdentityToken + "\x00" + cfg.RegistryToken))
	h := c.shared(c.hosts, hex.EncodeToString(sum[:]), func(h *handshakeResult) {
		h.rt, h.err = c.handshake(ctx, repo, auth, scope, true)
	})
	return h.rt, h.err
}

// handshake makes an authenticated transport for scope, with retries. With
// askScheme it first pings the registry and returns nil when the registry
// hands out per-repository tokens (no transport can serve them all).
func (c *Client) handshake(ctx context.Context, repo name.Repository, auth authn.Authenticator, scope string, askScheme bool) (rt http.RoundTripper, err error) {
	err = c.opts.Retry.Do(ctx, func() error {
		// The ping and token answers are read inside go-containerregistry,
		// whose errors drop Retry-After: the guard hears it for us.
		hctx, ra := withRetryAfterSink(ctx)
		if askScheme {
			ch, err := transport.Ping(hctx, repo.Registry, c.hop)
			if err != nil {
				return ra.hint(handshakeError(repo, c.certs, err))
			}
			if strings.EqualFold(ch.Scheme, "bearer") {
				return nil
			}
		}
		var err error
		rt, err = transport.NewWithContext(hctx, repo.Registry, auth, c.hop, []string{scope})
		if err != nil {
			return ra.hint(handshakeError(repo, c.certs, err))
		}
		return nil
	}, c.logRetry("connecting to "+repo.RegistryStr()))
	return rt, err
}

// handshakeError classifies a failed handshake. It tries https then http;
// its error holds both answers, and the first may hide that the second is
// worth retrying (a 5xx, a reset).
func handshakeError(repo name.Repository, certs *certStore, err error) error {
	var te *transport.Error
	if (errors.As(err, &te) && te.Temporary()) || retry.Retryable(err) {
		return transient{explain(repo.RegistryStr(), certs, err)}
	}
	return explain(repo.RegistryStr(), certs, err)
}

func (c *Client) logRetry(what string) func(int, time.Duration, error) {
	return func(attempt int, wait time.Duration, err error) {
		if c.opts.OnRetry != nil {
			c.opts.OnRetry()
		}
		if c.opts.Logf != nil {
			c.opts.Logf("retry %d after %s: %s: %v", attempt, wait.Round(time.Millisecond), what, err)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// HTTPError is a registry's non-success answer.
type HTTPError struct {
	Method     string
	URL        string // without query
	StatusCode int
	Codes      []string // registry error codes (MANIFEST_UNKNOWN...)
	Message    string
	// RedirectedFrom is the registry URL (without query) whose redirect
	// led to URL; "" when the registry answered itself.
	RedirectedFrom string
	retryAfter     time.Duration
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if len(e.Codes) > 0 {
		msg += " " + strings.Join(e.Codes, ",")
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RedirectedFrom != "" {
		msg += " (redirected from " + e.RedirectedFrom + ")"
		if !sameOrigin(e.URL, e.RedirectedFrom) {
			// Storage behind a redirect: no credentials went there,
			// so the credential fixes below do not apply.
			return msg
		}
	}
	if e.Raced() {
		msg += " (the registry answers this while another client writes the same content; fix: rerun)"
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		msg += "; fix: check the credentials for this registry in --authfile (or $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json)"
	case http.StatusForbidden:
		msg += "; fix: the account lacks access to this repository"
	}
	return msg
}

// Temporary: the registry may answer differently if asked again.
func (e *HTTPError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return e.Raced()
}

// ErrConcurrentWrite matches a write the registry refused the way it does
// when another client writes the same content at the same moment (see
// HTTPError.Raced).
var ErrConcurrentWrite = errors.New("write refused while the same content was being written")

// Raced reports a PUT refused with 400 DIGEST_INVALID or
// MANIFEST_BLOB_UNKNOWN. ocm sends a blob only after checking its digest
// while streaming it, and a manifest only after everything it names, so
// these answers mean the registry raced with another write of the same
// content (distribution rewrites a repository's links in place: two runs
// pushing one image to one mirror, or one blob or manifest reached by two
// tags): asking again, within the request's retry budget, succeeds.
func (e *HTTPError) Raced() bool {
	if e.Method != http.MethodPut || e.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, c := range e.Codes {
		if c == "DIGEST_INVALID" || c == "MANIFEST_BLOB_UNKNOWN" {
			return true
		}
	}
	return false
}

func (e *HTTPError) RetryAfter() time.Duration { return e.retryAfter }

// Is makes a 404 match store.ErrNotFound and a raced write
// ErrConcurrentWrite.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case store.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConcurrentWrite:
		return e.Raced()
	}
	return false
}

// NotFound reports whether err says the manifest, blob or repository is absent.
func NotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound)
}

// sources lists the repositories to read repo's ref from: its mirrors in
// registries.conf order, then repo itself unless blocked.
func (c *Client) sources(repo name.Repository, ref string) ([]name.Repository, error) {
	if c.opts.Mirrors == nil {
		return []name.Repository{repo}, nil
	}
	host := repo.RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	sep := ":"
	byDigest := strings.HasPrefix(ref, "sha256:")
	if byDigest {
		sep = "@"
	}
	eps, err := c.opts.Mirrors.Endpoints(host+"/"+repo.RepositoryStr()+sep+ref, byDigest)
	if err != nil {
		return nil, err
	}
	var out []name.Repository
	for _, ep := range eps {
		s := ep.Reference
		if i := strings.LastIndex(s, sep+ref); i >= 0 {
			s = s[:i]
		}
		var opts []name.Option
		if ep.Insecure || !c.opts.TLSVerify {
			opts = append(opts, name.Insecure)
		}
		r, err := name.NewRepository(s, opts...)
		if err != nil {
			return nil, fmt.Errorf("registries.conf rewrote %s to %q: %w", repo, ep.Reference, err)
		}
		if ep.Insecure {
			c.guard.allowPlain(r.RegistryStr())
		}
		out = append(out, r)
	}
	return out, nil
}

// fromSources runs f against each source of repo until one answers; the
// errors of all are reported when none does.
func (c *Client) fromSources(ctx context.Context, repo name.Repository, ref string, f func(name.Repository) error) error {
	srcs, err := c.sources(repo, ref)
	if err != nil {
		return err
	}
	var errs []string
	allNotFound := true
	var last error
	for _, r := range srcs {
		err := f(r)
		last = err
		if err == nil {
			if r.Name() != repo.Name() {
				c.served.Store(repo.Name(), r.RegistryStr())
			}
			return nil
		}
		if ctx.Err() != nil || len(srcs) == 1 {
			return err
		}
		if c.opts.Logf != nil {
			c.opts.Logf("%s: %v (trying the next source)", r, err)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", r, err))
		allNotFound = allNotFound && NotFound(err)
	}
	if allNotFound {
		return last // absent everywhere: callers see a plain not-found
	}
	return fmt.Errorf("no source served %s:%s: %s", repo, ref, strings.Join(errs, "; "))
}

// ServedFrom names the mirror registry that last served repo ("" when the
// source itself did, or no read happened).
func (c *Client) ServedFrom(repo string) string {
	if v, ok := c.served.Load(repo); ok {
		return v.(string)
	}
	return ""
}

// ServedRepository is the repository that served repo's content in this run:
// the registries.conf mirror endpoint whose registry ServedFrom names, or repo
// itself. ref is a reference the image was read by (the endpoints of a
// prefix rewrite depend on it). Lookups that only make sense where the image
// came from (its signatures and referrers) go there, so that an enclave whose
// source is out of reach does not fail on an optional lookup the mirror
// answered.
func (c *Client) ServedRepository(repo name.Repository, ref string) name.Repository {
	host := c.ServedFrom(repo.Name())
	if host == "" {
		return repo
	}
	srcs, err := c.sources(repo, ref)
	if err != nil {
		return repo
	}
	for _, r := range srcs {
		if r.RegistryStr() == host {
			return r
		}
	}
	return repo
}

// transient marks an error worth retrying whatever its parts say.
type transient struct{ error }

func (transient) Temporary() bool { return true }
func (t transient) Unwrap() error { return t.error }
