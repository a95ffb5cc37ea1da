package testenv

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestPlainRegistryRestartKeepsData(t *testing.T) {
	r := Start(t, RegistryOptions{})
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %v %v", resp, err)
	}
	marker := filepath.Join(r.Dir, "data", "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	host := r.Host
	if err := r.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Host != host {
		t.Fatalf("restart moved from %s to %s", host, r.Host)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("data lost on restart")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal("second Stop failed")
	}
	if _, err := r.Client().Get(r.URL() + "/v2/"); err == nil {
		t.Fatal("registry still answers after Stop")
	}
}

func TestAuthTLSRegistry(t *testing.T) {
	r := Start(t, RegistryOptions{Auth: true, TLS: true})
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/", nil)
	req.SetBasicAuth(r.User, r.Pass)
	resp, err = r.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("with credentials: %v %v", resp, err)
	}
	// Without the CA, TLS verification fails.
	if _, err := http.Get(r.URL() + "/v2/"); err == nil {
		t.Fatal("self-signed certificate accepted without its CA")
	}
}

// TestRegistryIgnoresClientEnvironment: docker-registry reads REGISTRY_*
// variables as configuration, and REGISTRY_AUTH_FILE (containers-auth.json(5),
// set by many podman users) reads as auth.file, an access controller it does
// not have. The registry must start whatever the caller's environment holds.
func TestRegistryIgnoresClientEnvironment(t *testing.T) {
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "auth.json"))
	t.Setenv("REGISTRY_HTTP_ADDR", "127.0.0.1:0") // would move it off its port
	r := Start(t, RegistryOptions{})
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestClientCARegistry: with ClientCA the registry accepts only clients
// presenting a certificate of its client CA.
func TestClientCARegistry(t *testing.T) {
	r := Start(t, RegistryOptions{TLS: true, ClientCA: true})
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with the client certificate: %d, want 200", resp.StatusCode)
	}
	c := r.Client()
	c.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
	if resp, err := c.Get(r.URL() + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d without a client certificate", resp.StatusCode)
	}
}
