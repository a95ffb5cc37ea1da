package auth

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

const secret = "s3cr3t-Pa55"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func write(t *testing.T, path, content string) string {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// isolate points every default location at an empty temp dir.
func isolate(t *testing.T) string {
	d := t.TempDir()
	t.Setenv("HOME", d)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("REGISTRY_AUTH_FILE", "")
	return d
}

func creds(t *testing.T, k *Keychain, repo string) authn.AuthConfig {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

func TestMostSpecificKeyWins(t *testing.T) {
	d := isolate(t)
	p := write(t, filepath.Join(d, "auth.json"), fmt.Sprintf(`{"auths":{
		"quay.io": {"auth": %q},
		"quay.io/team": {"auth": %q},
		"quay.io/team/app": {"auth": %q},
		"https://index.docker.io/v1/": {"auth": %q},
		"tok.example.com": {"identitytoken": "refresh-me"}
	}}`, b64("reg:"+secret), b64("ns:"+secret), b64("repo:"+secret), b64("hub:"+secret)))
	k, err := NewKeychain(p)
	if err != nil {
		t.Fatal(err)
	}
	for repo, user := range map[string]string{
		"quay.io/other/x":          "reg",
		"quay.io/team/x":           "ns",
		"quay.io/team/app":         "repo",
		"docker.io/library/alpine": "hub",
		"alpine":                   "hub",
	} {
		if got := creds(t, k, repo).Username; got != user {
			t.Errorf("%s: user %q, want %q", repo, got, user)
		}
	}
	if c := creds(t, k, "tok.example.com/a/b"); c.IdentityToken != "refresh-me" {
		t.Errorf("identity token: %+v", c)
	}
	if c := creds(t, k, "elsewhere.io/a"); c.Username != "" || c.IdentityToken != "" {
		t.Errorf("unknown registry got credentials")
	}
	if s := k.Source(name.MustParseReference("quay.io/team/x:1").Context()); !strings.Contains(s, "quay.io/team") || strings.Contains(s, secret) {
		t.Errorf("Source = %q", s)
	}
}

func TestDefaultOrder(t *testing.T) {
	d := isolate(t)
	write(t, filepath.Join(d, ".docker", "config.json"), fmt.Sprintf(`{"auths":{"r.io":{"auth":%q},"only-docker.io":{"auth":%q}}}`, b64("docker:"+secret), b64("d2:"+secret)))
	write(t, filepath.Join(d, "run", "containers", "auth.json"), fmt.Sprintf(`{"auths":{"r.io":{"auth":%q}}}`, b64("xdg:"+secret)))
	k, err := NewKeychain("")
	if err != nil {
		t.Fatal(err)
	}
	if u := creds(t, k, "r.io/a").Username; u != "xdg" {
		t.Errorf("XDG file should win over docker config, got %q", u)
	}
	if u := creds(t, k, "only-docker.io/a").Username; u != "d2" {
		t.Errorf("fall through to docker config, got %q", u)
	}
	env := write(t, filepath.Join(d, "env.json"), fmt.Sprintf(`{"auths":{"r.io":{"auth":%q}}}`, b64("env:"+secret)))
	t.Setenv("REGISTRY_AUTH_FILE", env)
	k, _ = NewKeychain("")
	if u := creds(t, k, "r.io/a").Username; u != "env" {
		t.Errorf("REGISTRY_AUTH_FILE should win, got %q", u)
	}
}

func TestCredHelper(t *testing.T) {
	d := isolate(t)
	bin := filepath.Join(d, "bin")
	write(t, filepath.Join(bin, "docker-credential-fake"), "#!/bin/sh\nread reg\necho '{\"Username\":\"helper-'$reg'\",\"Secret\":\""+secret+"\"}'\n")
	os.Chmod(filepath.Join(bin, "docker-credential-fake"), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	p := write(t, filepath.Join(d, "a.json"), `{"auths":{},"credHelpers":{"h.io":"fake","gone.io":"missing"}}`)
	k, err := NewKeychain(p)
	if err != nil {
		t.Fatal(err)
	}
	if u := creds(t, k, "h.io/a").Username; u != "helper-h.io" {
		t.Errorf("helper user %q", u)
	}
	_, err = k.Resolve(name.MustParseReference("gone.io/a:1").Context())
	if err == nil || !strings.Contains(err.Error(), "docker-credential-missing is not installed") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	d := isolate(t)
	cases := []struct{ content, want string }{
		{`{"auths":{"r.io":{"auth":"!!!` + secret + `"}}}`, `entry "r.io": "auth" is not base64`},
		{fmt.Sprintf(`{"auths":{"r.io":{"auth":%q}}}`, b64("nocolon"+secret)), "does not hold user:password"},
		{"{\n\"auths\": {\n\"r.io\": " + secret + "}}", ":3: not valid JSON"},
	}
	for i, c := range cases {
		p := write(t, filepath.Join(d, fmt.Sprintf("f%d.json", i)), c.content)
		k, err := NewKeychain(p)
		if err == nil {
			_, err = k.Resolve(name.MustParseReference("r.io/a:1").Context())
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: err = %v, want %q", i, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), b64("nocolon"+secret)) {
			t.Errorf("case %d: error shows the secret: %v", i, err)
		}
	}
	_, err := NewKeychain(filepath.Join(d, "nope.json"))
	if err == nil || !strings.Contains(err.Error(), "does not exist; fix:") {
		t.Errorf("missing explicit file: %v", err)
	}
}
