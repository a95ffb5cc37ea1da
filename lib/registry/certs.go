package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// DefaultCertRoots are the containers-certs.d(5) folders, in the order
// containers/image looks: the user's first, then the system's. Each holds
// one folder per registry, named host[:port].
func DefaultCertRoots() []string {
	roots := []string{"/etc/containers/certs.d", "/etc/docker/certs.d"}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		roots = append([]string{filepath.Join(home, ".config", "containers", "certs.d")}, roots...)
	}
	return roots
}

// CertDirError is a certs.d folder that cannot be used as it is (a client
// certificate without its key, an unreadable or malformed file). It is the
// user's configuration, not a transient failure.
type CertDirError struct {
	Path string // the file or folder at fault
	Msg  string // what is wrong and the fix
	Err  error  // nil when Msg says it all
}

func (e *CertDirError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s (%v)", e.Path, e.Msg, e.Err)
	}
	return e.Path + ": " + e.Msg
}

func (e *CertDirError) Unwrap() error { return e.Err }

// LoadCertDir reads one host folder as containers-certs.d(5) describes it:
// every *.crt is a CA trusted for that host on top of the system pool, and
// every NAME.cert with its NAME.key is a client certificate offered to it.
// A folder that does not exist gives nil, nil. Key contents never appear
// in errors.
func LoadCertDir(dir string) (*tls.Config, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &CertDirError{Path: dir, Msg: "certificate folder unreadable; fix: make it readable by this user, or remove it", Err: err}
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	cfg := &tls.Config{}
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(dir, n)
		switch {
		case strings.HasSuffix(n, ".crt"):
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, &CertDirError{Path: p, Msg: "CA certificate unreadable; fix: make it a readable PEM file, or remove it", Err: err}
			}
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, &CertDirError{Path: p, Msg: "no PEM certificate in it; fix: put the registry's CA certificate in PEM form in it, or remove it"}
			}
		case strings.HasSuffix(n, ".cert"):
			key := strings.TrimSuffix(n, ".cert") + ".key"
			if !names[key] {
				return nil, &CertDirError{Path: p, Msg: fmt.Sprintf("client certificate without its key %s; fix: put the key beside it as %s, or rename a CA certificate to .crt", key, key)}
			}
			c, err := tls.LoadX509KeyPair(p, filepath.Join(dir, key))
			if err != nil {
				// LoadX509KeyPair's errors do not quote the key.
				return nil, &CertDirError{Path: p, Msg: "client certificate and key " + key + " unusable; fix: give a readable PEM certificate and its matching PEM key", Err: err}
			}
			cfg.Certificates = append(cfg.Certificates, c)
		case strings.HasSuffix(n, ".key"):
			if cert := strings.TrimSuffix(n, ".key") + ".cert"; !names[cert] {
				return nil, &CertDirError{Path: p, Msg: fmt.Sprintf("client key without its certificate %s; fix: put the certificate beside it as %s, or remove the key", cert, cert)}
			}
		}
	}
	return cfg, nil
}

// certStore finds and loads the TLS material of each registry host once.
type certStore struct {
	dir   string   // --src-cert-dir / --dest-cert-dir: one folder for every host
	roots []string // else the certs.d roots, first existing host folder wins

	mu     sync.Mutex
	byHost map[string]*hostCerts
}

type hostCerts struct {
	once sync.Once
	dir  string // folder used; "" when none exists
	cfg  *tls.Config
	err  error
	rt   http.RoundTripper
}

// Check loads host's folder now, so that a broken one is reported before
// any work starts; its error is a *CertDirError.
func (c *Client) CheckCerts(host string) error { return c.certs.get(host).err }

// folders are the host folders looked in for host, in order.
func (s *certStore) folders(host string) []string {
	if s.dir != "" {
		return []string{s.dir}
	}
	if host == name.DefaultRegistry || host == "registry-1.docker.io" {
		// The user-visible name, as containers/image reads it.
		host = "docker.io"
	}
	out := make([]string, len(s.roots))
	for i, r := range s.roots {
		out[i] = filepath.Join(r, host)
	}
	return out
}

// pick is the folder used for host: the first that exists, as
// containers/image does (a folder it may not look into is passed over).
func (s *certStore) pick(host string) string {
	for _, d := range s.folders(host) {
		if _, err := os.Stat(d); err == nil || s.dir != "" {
			return d
		}
	}
	return ""
}

func (s *certStore) get(host string) *hostCerts {
	s.mu.Lock()
	h, ok := s.byHost[host]
	if !ok {
		h = &hostCerts{}
		s.byHost[host] = h
	}
	s.mu.Unlock()
	h.once.Do(func() {
		if h.dir = s.pick(host); h.dir != "" {
			h.cfg, h.err = LoadCertDir(h.dir)
		}
	})
	return h
}

// describe says, for an error message, where TLS material for host was
// looked for and what was found.
func (s *certStore) describe(host string) string {
	if s == nil {
		return ""
	}
	h := s.get(host)
	switch {
	case h.err != nil:
		return h.err.Error()
	case h.dir == "":
		return "no folder of " + strings.Join(s.folders(host), ", ") + " exists"
	case h.cfg == nil:
		return h.dir + " does not exist"
	}
	var cas []string
	if ents, err := os.ReadDir(h.dir); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".crt") {
				cas = append(cas, e.Name())
			}
		}
	}
	sort.Strings(cas)
	return fmt.Sprintf("used %s (CAs: %s; client certificates: %d)", h.dir, orNone(cas), len(h.cfg.Certificates))
}

// into is the folder to put host's TLS material in: the one in use, else
// the first looked in.
func (s *certStore) into(host string) string {
	if h := s.get(host); h.dir != "" {
		return h.dir
	}
	if f := s.folders(host); len(f) > 0 {
		return f[0]
	}
	return "the host's certs.d folder"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// hostTLS is the innermost transport when certs.d folders apply: each
// HTTPS host with a folder gets its own transport (its CAs, its client
// certificates), every other request the shared one.
type hostTLS struct {
	def   *http.Transport
	certs *certStore
}

func (t *hostTLS) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return t.def.RoundTrip(req)
	}
	h := t.certs.get(req.URL.Host)
	if h.err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, h.err
	}
	if h.cfg == nil {
		return t.def.RoundTrip(req)
	}
	t.certs.mu.Lock()
	if h.rt == nil {
		tr := t.def.Clone()
		cfg := h.cfg.Clone()
		cfg.InsecureSkipVerify = t.def.TLSClientConfig != nil && t.def.TLSClientConfig.InsecureSkipVerify //nolint:gosec // the user's --tls-verify=false
		tr.TLSClientConfig = cfg
		h.rt = tr
	}
	rt := h.rt
	t.certs.mu.Unlock()
	return rt.RoundTrip(req)
}
