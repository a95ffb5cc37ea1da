// Package testenv starts real registries (Debian's docker-registry, the CNCF
// distribution registry) on 127.0.0.1 for tests, benchmarks and the demo,
// with optional htpasswd auth and TLS.
package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RegistryOptions choose how a registry is set up.
type RegistryOptions struct {
	Auth       bool // htpasswd basic auth with User/Pass
	User, Pass string
	TLS        bool // self-signed certificate for 127.0.0.1 and localhost
	// ClientCA (with TLS) requires every client to present a certificate
	// issued by a private client CA (distribution's http.tls.clientcas);
	// ClientCert and ClientKey are one.
	ClientCA      bool
	DisableDelete bool // storage.delete.enabled false (deletes answer 405)
	// RedirectBlobsTo, when set (scheme://host:port), turns on the
	// registry's "redirect" storage middleware: blob reads answer 307 to
	// that origin plus the blob's storage path (/docker/registry/v2/blobs/
	// sha256/xx/<hex>/data under Dir/data), as S3- or CDN-backed
	// registries redirect to presigned URLs.
	RedirectBlobsTo string
	// Program is the registry binary (default Binary, Debian's
	// distribution 2.x): StartV3 runs distribution v3's.
	Program string
	// SparseIndexes accepts an index whose manifests are absent
	// (distribution 3's validation.manifests.indexes.platforms: none).
	SparseIndexes bool
}

// Registry is a running docker-registry process.
type Registry struct {
	Host       string // 127.0.0.1:PORT
	Dir        string
	ConfigPath string
	User, Pass string
	CAFile     string // PEM certificate to trust, when TLS
	// ClientCert and ClientKey (PEM files), with ClientCA: a certificate
	// the registry accepts.
	ClientCert, ClientKey string

	opts RegistryOptions
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary is the registry program.
const Binary = "docker-registry"

// StartRegistry writes a config under dir and starts the registry.
func StartRegistry(ctx context.Context, dir string, o RegistryOptions) (*Registry, error) {
	if o.Program == "" {
		o.Program = Binary
	}
	if _, err := exec.LookPath(o.Program); err != nil {
		return nil, fmt.Errorf("%s is not installed; fix: apt-get install docker-registry (or run make deps; make tools for bin/registry-v3)", o.Program)
	}
	if o.Auth && o.User == "" {
		o.User, o.Pass = "ocm", "ocm-secret-pass"
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	r := &Registry{Dir: dir, ConfigPath: filepath.Join(dir, "config.yml"), User: o.User, Pass: o.Pass, opts: o}
	if o.Auth {
		out, err := exec.CommandContext(ctx, "htpasswd", "-Bbn", o.User, o.Pass).Output()
		if err != nil {
			return nil, fmt.Errorf("htpasswd (apache2-utils): %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
			return nil, err
		}
	}
	if o.TLS {
		if err := r.makeCert(); err != nil {
			return nil, err
		}
		if o.ClientCA {
			if err := r.makeClientCA(); err != nil {
				return nil, err
			}
		}
	}
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		if err := r.writeConfig(); err != nil {
			return nil, err
		}
		if lastErr = r.start(ctx); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Registry) writeConfig() error {
	secret := make([]byte, 16)
	rand.Read(secret)
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: %v\n", filepath.Join(r.Dir, "data"), !r.opts.DisableDelete)
	fmt.Fprintf(&b, "http:\n  addr: %s\n  secret: %s\n", r.Host, hex.EncodeToString(secret))
	if r.opts.TLS {
		fmt.Fprintf(&b, "  tls:\n    certificate: %s\n    key: %s\n", filepath.Join(r.Dir, "cert.pem"), filepath.Join(r.Dir, "key.pem"))
		if r.opts.ClientCA {
			fmt.Fprintf(&b, "    clientcas:\n      - %s\n", filepath.Join(r.Dir, "client-ca.pem"))
		}
	}
	if r.opts.RedirectBlobsTo != "" {
		fmt.Fprintf(&b, "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: %s\n", r.opts.RedirectBlobsTo)
	}
	if r.opts.SparseIndexes {
		fmt.Fprintf(&b, "validation:\n  manifests:\n    indexes:\n      platforms: none\n")
	}
	if r.opts.Auth {
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: ocm-test\n    path: %s\n", filepath.Join(r.Dir, "htpasswd"))
	}
	return os.WriteFile(r.ConfigPath, []byte(b.String()), 0o644)
}

func (r *Registry) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(r.Dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.opts.Program, "serve", r.ConfigPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// docker-registry takes REGISTRY_* variables as configuration: the
	// caller's REGISTRY_AUTH_FILE (containers-auth.json(5)) would read as
	// auth.file and stop it. Only the config file configures it.
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The registry dies with the process that started it: no strays.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", r.opts.Program, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	if err := r.waitReady(ctx, done); err != nil {
		r.Stop()
		tail, _ := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("registry on %s did not start: %v\n%s", r.Host, err, tail)
	}
	return nil
}

// Client returns an HTTP client that trusts the registry's certificate.
func (r *Registry) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAFile != "" {
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(r.CAFile)
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		if r.ClientCert != "" {
			if c, err := tls.LoadX509KeyPair(r.ClientCert, r.ClientKey); err == nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{c}
			}
		}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// URL is the registry's base URL.
func (r *Registry) URL() string {
	if r.opts.TLS {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (r *Registry) waitReady(ctx context.Context, done chan struct{}) error {
	c := r.Client()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("process exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := c.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no answer on /v2/ within 15s")
}

// Stop kills the registry and waits for it; calling it again is harmless.
func (r *Registry) Stop() error {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return nil
}

// Restart stops and starts the registry on the same port and data.
func (r *Registry) Restart(ctx context.Context) error {
	r.Stop()
	return r.start(ctx)
}

// GarbageCollect runs the registry's garbage collector on its storage while
// it is stopped, then starts it again (the collector needs exclusive access).
func (r *Registry) GarbageCollect(ctx context.Context) ([]byte, error) {
	r.Stop()
	out, err := exec.CommandContext(ctx, r.opts.Program, "garbage-collect", r.ConfigPath).CombinedOutput()
	if serr := r.start(ctx); serr != nil && err == nil {
		err = serr
	}
	return out, err
}

// DataSize is the bytes stored under the registry's data directory.
func (r *Registry) DataSize() (int64, error) {
	var n int64
	err := filepath.WalkDir(filepath.Join(r.Dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			fi, err := d.Info()
			if err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// AuthFile writes a containers-auth.json with this registry's credentials.
func (r *Registry) AuthFile(path, user, pass string) error {
	body := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Host, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	return os.WriteFile(path, []byte(body), 0o600)
}

// makeClientCA writes the client CA the registry trusts and one
// certificate it issued.
func (r *Registry) makeClientCA() error {
	ca, err := NewCA("ocm test client CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "client-ca.pem"), ca.CertPEM, 0o644); err != nil {
		return err
	}
	r.ClientCert, r.ClientKey = filepath.Join(r.Dir, "client.cert"), filepath.Join(r.Dir, "client.key")
	return ca.IssueFiles("ocm test client", false, r.ClientCert, r.ClientKey)
}

// makeCert writes a self-signed certificate for 127.0.0.1 and localhost.
func (r *Registry) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "ocm test registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	var cert, kp bytes.Buffer
	pem.Encode(&cert, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&kp, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	r.CAFile = filepath.Join(r.Dir, "cert.pem")
	if err := os.WriteFile(r.CAFile, cert.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.Dir, "key.pem"), kp.Bytes(), 0o600)
}
