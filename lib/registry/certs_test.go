package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
)

// TestI25LoadCertDir: a containers-certs.d(5) host folder is read as
// containers/image reads it; a broken one is one line naming the file and
// the fix.
func TestI25LoadCertDir(t *testing.T) {
	ca, err := testenv.NewCA("certs.d test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("client", false)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, b []byte) func(string) error {
		return func(dir string) error { return os.WriteFile(filepath.Join(dir, name), b, 0o600) }
	}
	for _, tc := range []struct {
		name    string
		files   []func(dir string) error
		cas     bool   // the CA verifies certificates
		clients int    // client certificates offered
		err     string // the error names this file and has a fix
	}{
		{name: "empty folder"},
		{name: "CA only", files: []func(string) error{file("ca.crt", ca.CertPEM)}, cas: true},
		{name: "cert and key", files: []func(string) error{file("client.cert", cert), file("client.key", key)}, clients: 1},
		{name: "CA, cert and key", files: []func(string) error{file("ca.crt", ca.CertPEM), file("c.cert", cert), file("c.key", key), file("README", []byte("x"))}, cas: true, clients: 1},
		{name: "cert without key", files: []func(string) error{file("client.cert", cert)}, err: "client.cert"},
		{name: "key without cert", files: []func(string) error{file("client.key", key)}, err: "client.key"},
		{name: "key of another cert", files: []func(string) error{file("client.cert", cert), file("client.key", ca.CertPEM)}, err: "client.cert"},
		{name: "CA not PEM", files: []func(string) error{file("ca.crt", []byte("not a certificate"))}, err: "ca.crt"},
		{name: "CA unreadable (a folder)", files: []func(string) error{func(d string) error { return os.Mkdir(filepath.Join(d, "ca.crt"), 0o755) }}, err: "ca.crt"},
		{name: "CA unreadable (dangling link)", files: []func(string) error{func(d string) error { return os.Symlink("missing.pem", filepath.Join(d, "ca.crt")) }}, err: "ca.crt"},
		{name: "cert unreadable (dangling link)", files: []func(string) error{func(d string) error { return os.Symlink("missing.pem", filepath.Join(d, "c.cert")) }, file("c.key", key)}, err: "c.cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := f(dir); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := LoadCertDir(dir)
			if tc.err != "" {
				var cde *CertDirError
				if !errors.As(err, &cde) || cde.Path != filepath.Join(dir, tc.err) || !strings.Contains(err.Error(), "; fix: ") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want a one-line *CertDirError naming %s with a fix", err, tc.err)
				}
				if strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Fatal("the error quotes the key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, verr := ca.Cert.Verify(x509.VerifyOptions{Roots: cfg.RootCAs})
			if (verr == nil) != tc.cas {
				t.Errorf("CA trusted: %v, want %v", verr == nil, tc.cas)
			}
			if tc.cas {
				// On top of the system pool, not instead of it.
				sys, _ := x509.SystemCertPool()
				if sys != nil && !sys.Equal(x509.NewCertPool()) && cfg.RootCAs.Equal(func() *x509.CertPool { p := x509.NewCertPool(); p.AddCert(ca.Cert); return p }()) {
					t.Error("the system pool was replaced")
				}
			}
			if len(cfg.Certificates) != tc.clients {
				t.Errorf("%d client certificates, want %d", len(cfg.Certificates), tc.clients)
			}
		})
	}
	if cfg, err := LoadCertDir(filepath.Join(t.TempDir(), "absent")); cfg != nil || err != nil {
		t.Fatalf("missing folder: %v, %v; want nothing", cfg, err)
	}
}

// TestI25CertDirLookup: the host folder is named host[:port] exactly, and
// the first root holding one wins (the user's before the system's).
func TestI25CertDirLookup(t *testing.T) {
	home, etc := t.TempDir(), t.TempDir()
	for _, d := range []string{filepath.Join(etc, "docker.io"), filepath.Join(home, "reg.example:5000"), filepath.Join(etc, "reg.example:5000"), filepath.Join(etc, "reg.example")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &certStore{roots: []string{home, etc}, byHost: map[string]*hostCerts{}}
	for host, want := range map[string]string{
		"reg.example:5000": filepath.Join(home, "reg.example:5000"),
		"reg.example":      filepath.Join(etc, "reg.example"),
		"reg.example:443":  "",
		"other.example":    "",
		"index.docker.io":  filepath.Join(etc, "docker.io"),
	} {
		if got := s.get(host).dir; got != want {
			t.Errorf("%s: folder %q, want %q", host, got, want)
		}
	}
	flag := &certStore{dir: filepath.Join(etc, "reg.example"), roots: []string{home}, byHost: map[string]*hostCerts{}}
	if got := flag.get("reg.example:5000").dir; got != flag.dir {
		t.Errorf("with a cert dir flag: folder %q, want %q", got, flag.dir)
	}
}

// TestI25ClientCertificate: a server with a private CA that requires a
// client certificate is reached, by registry requests and by downloads,
// with the host's certs.d folder; without it the error names the host and
// the folders looked in.
func TestI25ClientCertificate(t *testing.T) {
	ca, err := testenv.NewCA("server CA")
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := testenv.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	sc, sk, err := ca.Issue("server", true)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	roots := []string{filepath.Join(t.TempDir(), "home-certs.d"), filepath.Join(t.TempDir(), "etc-certs.d")}
	get := func() error {
		c := New(Options{TLSVerify: true, CertRoots: roots, Retry: fastRetry()})
		resp, err := c.HTTPClient().Get(srv.URL + "/index.yaml")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	err = get()
	if err == nil || !strings.Contains(err.Error(), "TLS certificate not trusted") || !strings.Contains(err.Error(), filepath.Join(roots[1], u.Host)) {
		t.Fatalf("without a folder: %v; want the untrusted CA and the folders looked in", err)
	}
	dir := filepath.Join(roots[1], u.Host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	err = get()
	if err == nil || !strings.Contains(err.Error(), "TLS handshake refused") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("CA only: %v; want the client certificate asked for and the folder", err)
	}
	t.Log(err)
	if err := clientCA.IssueFiles("client", false, filepath.Join(dir, "me.cert"), filepath.Join(dir, "me.key")); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "me.key")); err != nil {
		t.Fatal(err)
	}
	if err := get(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "me.cert")) || !strings.Contains(err.Error(), "fix: ") {
		t.Fatalf("certificate without key: %v", err)
	}
}
