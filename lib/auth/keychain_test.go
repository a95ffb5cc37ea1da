package auth

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// secret is in every credential the tests write; no error, Source or String
// may contain it.
const secret = "s3cr3t-Pa55w0rd"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// basic is an auths value for user with the shared secret.
func basic(user string) string { return fmt.Sprintf(`{"auth":%q}`, b64(user+":"+secret)) }

// authsJSON builds {"auths":{key: value,...}} from key, value pairs.
func authsJSON(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, fmt.Sprintf("%q: %s", kv[i], kv[i+1]))
	}
	return `{"auths": {` + strings.Join(parts, ",\n") + `}}`
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// isolate points every default location into an empty temp dir and
// returns it. Default files: see paths.
func isolate(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	t.Setenv("HOME", filepath.Join(d, "home"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("REGISTRY_AUTH_FILE", "")
	return d
}

// defaultPaths are the default files under isolate's dir, by short name.
func defaultPaths(d string) map[string]string {
	return map[string]string{
		"env":    filepath.Join(d, "env.json"), // only when REGISTRY_AUTH_FILE points at it
		"xdg":    filepath.Join(d, "run", "containers", "auth.json"),
		"config": filepath.Join(d, "home", ".config", "containers", "auth.json"),
		"docker": filepath.Join(d, "home", ".docker", "config.json"),
	}
}

func resource(t *testing.T, s string) authn.Resource {
	t.Helper()
	if !strings.Contains(s, "/") {
		if r, err := name.NewRegistry(s); err == nil && strings.ContainsAny(s, ".:") {
			return r
		}
	}
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func resolve(t *testing.T, k *Keychain, s string) (authn.AuthConfig, error) {
	t.Helper()
	a, err := k.Resolve(resource(t, s))
	if err != nil {
		return authn.AuthConfig{}, err
	}
	c, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "authenticator String", fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a))
	return *c, nil
}

func noSecret(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, bad := range []string{secret, b64(secret)} {
			if strings.Contains(s, bad) {
				t.Errorf("%s shows a secret: %s", what, s)
			}
		}
	}
}

func errText(err error) []string {
	return []string{err.Error(), fmt.Sprint(err), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprintf("%q", err)}
}

func TestFiles(t *testing.T) {
	cases := []struct {
		name     string
		create   []string // short names from defaultPaths
		env      bool     // REGISTRY_AUTH_FILE=env path
		explicit string   // short name or path
		want     []string
	}{
		{name: "none"},
		{name: "all in order", create: []string{"env", "xdg", "config", "docker"}, env: true, want: []string{"env", "xdg", "config", "docker"}},
		{name: "only existing", create: []string{"docker", "xdg"}, want: []string{"xdg", "docker"}},
		{name: "env set but missing", create: []string{"config"}, env: true, want: []string{"config"}},
		{name: "env without the variable", create: []string{"env", "docker"}, want: []string{"docker"}},
		{name: "explicit alone", create: []string{"xdg", "docker", "env"}, env: true, explicit: "env", want: []string{"env"}},
		{name: "explicit even if missing", create: []string{"xdg"}, explicit: "/nonexistent/auth.json", want: []string{"/nonexistent/auth.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := isolate(t)
			p := defaultPaths(d)
			for _, f := range c.create {
				write(t, p[f], "{}")
			}
			if c.env {
				t.Setenv("REGISTRY_AUTH_FILE", p["env"])
			}
			explicit := c.explicit
			if q, ok := p[explicit]; ok {
				explicit = q
			}
			var want []string
			for _, w := range c.want {
				if q, ok := p[w]; ok {
					w = q
				}
				want = append(want, w)
			}
			if got := Files(explicit); !reflect.DeepEqual(got, want) {
				t.Errorf("Files = %q, want %q", got, want)
			}
		})
	}

	t.Run("same file twice", func(t *testing.T) {
		d := isolate(t)
		p := defaultPaths(d)
		write(t, p["xdg"], "{}")
		t.Setenv("REGISTRY_AUTH_FILE", p["xdg"])
		if got := Files(""); !reflect.DeepEqual(got, []string{p["xdg"]}) {
			t.Errorf("Files = %q", got)
		}
	})
}

func TestKeys(t *testing.T) {
	file := authsJSON(
		"quay.io", basic("reg"),
		"quay.io/team", basic("ns"),
		"quay.io/team/app", basic("repo"),
		"quay.io/deep/a/b", basic("deep-ns"),
		"https://index.docker.io/v1/", basic("hub"),
		"docker.io/myorg", basic("hub-ns"),
		"http://legacy.example.com", basic("legacy-http"),
		"https://v1.example.com/v1/", basic("legacy-v1"),
		"https://withpath.example.com/ns/", basic("url-is-registry-level"),
		"localhost:5000", basic("port"),
		"Upper.Example.COM", basic("upper"),
		"plain.example.com", `{"username":"plain","password":"`+secret+`"}`,
		"tok.example.com", `{"identitytoken":"`+secret+`"}`,
		"both.example.com", `{"auth":"`+b64("both:"+secret)+`","identitytoken":"`+secret+`"}`,
		"unpadded.example.com", `{"auth":"`+base64.RawStdEncoding.EncodeToString([]byte("unpadded:"+secret+"x"))+`"}`,
		"marker.example.com", `{}`,
		"marker.example.com/ns", `{"auth":""}`,
	)
	cases := []struct {
		resource, user string
		token          bool // identity token expected
	}{
		{"quay.io/other/x", "reg", false},
		{"quay.io/team/x", "ns", false},
		{"quay.io/team/app", "repo", false},
		{"quay.io/team/app/sub", "repo", false}, // repo key is a namespace of a deeper repo
		{"quay.io/teamx/app", "reg", false},     // "quay.io/team" is not a prefix of "quay.io/teamx"
		{"quay.io/deep/a/b/c", "deep-ns", false},
		{"quay.io/deep/a/c", "reg", false},
		{"quay.io", "reg", false}, // registry resource
		{"docker.io/library/alpine", "hub", false},
		{"alpine", "hub", false},
		{"index.docker.io/myorg/app", "hub-ns", false},
		{"myorg/app", "hub-ns", false},
		{"legacy.example.com/a/b", "legacy-http", false},
		{"v1.example.com/a", "legacy-v1", false},
		{"withpath.example.com/other/x", "url-is-registry-level", false},
		{"localhost:5000/x", "port", false},
		{"localhost:5001/x", "", false},
		{"upper.example.com/x", "upper", false},
		{"plain.example.com/x", "plain", false},
		{"tok.example.com/x", "", true},
		{"both.example.com/x", "both", true},
		{"unpadded.example.com/x", "unpadded", false},
		{"marker.example.com/ns/x", "", false}, // empty entries do not match: anonymous
		{"elsewhere.io/a", "", false},
	}
	d := isolate(t)
	k, err := NewKeychain(write(t, filepath.Join(d, "auth.json"), file))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.resource, func(t *testing.T) {
			got, err := resolve(t, k, c.resource)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != c.user {
				t.Errorf("user %q, want %q (source %s)", got.Username, c.user, k.Source(resource(t, c.resource)))
			}
			if c.user != "" && !strings.HasPrefix(got.Password, secret) {
				t.Errorf("password not passed through")
			}
			if (got.IdentityToken == secret) != c.token {
				t.Errorf("identity token set = %v, want %v", got.IdentityToken != "", c.token)
			}
			src := k.Source(resource(t, c.resource))
			noSecret(t, "Source", src)
			if c.user == "" && !c.token && !strings.HasPrefix(src, "anonymous") {
				t.Errorf("Source = %q, want anonymous", src)
			}
		})
	}
	if s := k.Source(resource(t, "quay.io/team/x")); !strings.Contains(s, `auths["quay.io/team"]`) || !strings.Contains(s, "auth.json") {
		t.Errorf("Source = %q", s)
	}
	a, _ := k.Resolve(resource(t, "elsewhere.io/a"))
	if a != authn.Anonymous {
		t.Errorf("no match: %v, want authn.Anonymous", a)
	}
}

func TestFilePrecedence(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string // short name -> content
		env      bool
		explicit string
		resource string
		want     string // user, "" = anonymous
	}{
		{
			name:     "xdg beats docker",
			files:    map[string]string{"xdg": authsJSON("r.io", basic("xdg")), "docker": authsJSON("r.io", basic("docker"))},
			resource: "r.io/a", want: "xdg",
		},
		{
			name:     "xdg beats config",
			files:    map[string]string{"xdg": authsJSON("r.io", basic("xdg")), "config": authsJSON("r.io", basic("config"))},
			resource: "r.io/a", want: "xdg",
		},
		{
			name:     "config beats docker",
			files:    map[string]string{"config": authsJSON("r.io", basic("config")), "docker": authsJSON("r.io", basic("docker"))},
			resource: "r.io/a", want: "config",
		},
		{
			name:     "env beats all",
			files:    map[string]string{"env": authsJSON("r.io", basic("env")), "xdg": authsJSON("r.io", basic("xdg")), "docker": authsJSON("r.io", basic("docker"))},
			env:      true,
			resource: "r.io/a", want: "env",
		},
		{
			name:     "falls through to a later file",
			files:    map[string]string{"xdg": authsJSON("other.io", basic("xdg")), "docker": authsJSON("r.io", basic("docker"))},
			resource: "r.io/a", want: "docker",
		},
		{
			name:     "first matching file wins over a more specific key later",
			files:    map[string]string{"xdg": authsJSON("r.io", basic("xdg-registry")), "docker": authsJSON("r.io/ns/a", basic("docker-repo"))},
			resource: "r.io/ns/a", want: "xdg-registry",
		},
		{
			name:     "empty marker does not stop the search",
			files:    map[string]string{"xdg": authsJSON("r.io", `{}`), "docker": authsJSON("r.io", basic("docker"))},
			resource: "r.io/a", want: "docker",
		},
		{
			name:     "explicit is the only file",
			files:    map[string]string{"env": authsJSON("r.io", basic("explicit")), "xdg": authsJSON("other.io", basic("xdg"))},
			explicit: "env", resource: "other.io/a", want: "",
		},
		{
			name:     "explicit file used",
			files:    map[string]string{"env": authsJSON("r.io", basic("explicit")), "xdg": authsJSON("r.io", basic("xdg"))},
			explicit: "env", resource: "r.io/a", want: "explicit",
		},
		{
			name:     "empty file holds nothing",
			files:    map[string]string{"xdg": "  \n", "docker": authsJSON("r.io", basic("docker"))},
			resource: "r.io/a", want: "docker",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := isolate(t)
			p := defaultPaths(d)
			for f, content := range c.files {
				write(t, p[f], content)
			}
			if c.env {
				t.Setenv("REGISTRY_AUTH_FILE", p["env"])
			}
			explicit := ""
			if c.explicit != "" {
				explicit = p[c.explicit]
			}
			k, err := NewKeychain(explicit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolve(t, k, c.resource)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != c.want {
				t.Errorf("user %q, want %q (source %s)", got.Username, c.want, k.Source(resource(t, c.resource)))
			}
		})
	}
}

// fakeHelper installs docker-credential-fake on PATH. It logs each server it
// is asked about to the returned file.
func fakeHelper(t *testing.T, d string) (log string) {
	t.Helper()
	bin := filepath.Join(d, "bin")
	log = filepath.Join(d, "helper.log")
	script := `#!/bin/sh
[ "$1" = get ] || exit 9
read -r server
echo "$server" >> "` + log + `"
case "$server" in
  h.io) echo '{"ServerURL":"h.io","Username":"helper-user","Secret":"` + secret + `"}' ;;
  store.io) echo '{"Username":"store-user","Secret":"` + secret + `"}' ;;
  tok.io) echo '{"Username":"<token>","Secret":"` + secret + `"}' ;;
  https://index.docker.io/v1/) echo '{"Username":"hub-helper","Secret":"` + secret + `"}' ;;
  fail.io) echo "boom ` + secret + `"; echo "` + secret + `" >&2; exit 3 ;;
  garbage.io) echo "not json ` + secret + `" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	write(t, filepath.Join(bin, "docker-credential-fake"), script)
	if err := os.Chmod(filepath.Join(bin, "docker-credential-fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func TestCredHelpers(t *testing.T) {
	cases := []struct {
		name     string
		xdg      string // first file
		docker   string // second file
		resource string
		user     string
		token    bool
		err      string // substring of the error
		source   string // substring of Source
	}{
		{
			name:     "credHelpers",
			xdg:      `{"credHelpers":{"h.io":"fake"}}`,
			resource: "h.io/a/b", user: "helper-user", source: `credHelpers["h.io"] (docker-credential-fake)`,
		},
		{
			name:     "credsStore",
			xdg:      `{"auths":{"store.io":{}},"credsStore":"fake"}`,
			resource: "store.io/a", user: "store-user", source: "credsStore (docker-credential-fake)",
		},
		{
			name:     "token",
			xdg:      `{"credHelpers":{"tok.io":"fake"}}`,
			resource: "tok.io/a", token: true,
		},
		{
			name:     "docker hub server name",
			xdg:      `{"credHelpers":{"https://index.docker.io/v1/":"fake"}}`,
			resource: "library/alpine", user: "hub-helper",
		},
		{
			name:     "docker hub via credsStore",
			xdg:      `{"credsStore":"fake"}`,
			resource: "docker.io/library/alpine", user: "hub-helper",
		},
		{
			name:     "namespace auths beat credHelpers",
			xdg:      `{"auths":{"h.io/ns":` + basic("ns") + `},"credHelpers":{"h.io":"fake"}}`,
			resource: "h.io/ns/a", user: "ns",
		},
		{
			name:     "credHelpers beat registry auths",
			xdg:      `{"auths":{"h.io":` + basic("file") + `},"credHelpers":{"h.io":"fake"}}`,
			resource: "h.io/ns/a", user: "helper-user",
		},
		{
			name:     "registry auths beat credsStore",
			xdg:      `{"auths":{"store.io":` + basic("file") + `},"credsStore":"fake"}`,
			resource: "store.io/a", user: "file",
		},
		{
			name:     "not found in helper falls through to auths",
			xdg:      `{"auths":{"nf.io":` + basic("file") + `},"credHelpers":{"nf.io":"fake"}}`,
			resource: "nf.io/a", user: "file",
		},
		{
			name:     "not found in helper falls through to next file",
			xdg:      `{"credsStore":"fake"}`,
			docker:   authsJSON("nf.io", basic("docker")),
			resource: "nf.io/a", user: "docker",
		},
		{
			name:     "not found anywhere",
			xdg:      `{"credsStore":"fake"}`,
			resource: "nf.io/a", source: "anonymous",
		},
		{
			name:     "helper for another registry",
			xdg:      `{"credHelpers":{"h.io":"fake"}}`,
			docker:   authsJSON("r.io", basic("docker")),
			resource: "r.io/a", user: "docker",
		},
		{
			name:     "missing helper",
			xdg:      `{"credHelpers":{"gone.io":"missing-helper"}}`,
			resource: "gone.io/a", err: "docker-credential-missing-helper not found on $PATH",
		},
		{
			name:     "missing credsStore helper",
			xdg:      `{"credsStore":"desktop-nope"}`,
			resource: "gone.io/a", err: "credsStore: credential helper docker-credential-desktop-nope not found",
		},
		{
			name:     "failing helper",
			xdg:      `{"credHelpers":{"fail.io":"fake"}}`,
			resource: "fail.io/a", err: "credential helper docker-credential-fake for fail.io failed",
		},
		{
			name:     "garbage answer",
			xdg:      `{"credHelpers":{"garbage.io":"fake"}}`,
			resource: "garbage.io/a", err: "answer is not the expected JSON",
		},
		{
			name:     "helper name with a slash",
			xdg:      `{"credHelpers":{"h.io":"../fake"}}`,
			resource: "h.io/a", err: "not a plain name",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := isolate(t)
			fakeHelper(t, d)
			p := defaultPaths(d)
			write(t, p["xdg"], c.xdg)
			if c.docker != "" {
				write(t, p["docker"], c.docker)
			}
			k, err := NewKeychain("")
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolve(t, k, c.resource)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if !strings.Contains(err.Error(), p["xdg"]) {
					t.Errorf("error does not name the file: %v", err)
				}
				noSecret(t, "error", errText(err)...)
				noSecret(t, "Source", k.Source(resource(t, c.resource)))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != c.user || (got.IdentityToken == secret) != c.token {
				t.Errorf("got user %q token %v, want %q %v", got.Username, got.IdentityToken != "", c.user, c.token)
			}
			if c.user != "" && got.Password != secret {
				t.Errorf("password not passed through")
			}
			src := k.Source(resource(t, c.resource))
			noSecret(t, "Source", src)
			if c.source != "" && !strings.Contains(src, c.source) {
				t.Errorf("Source = %q, want %q", src, c.source)
			}
		})
	}
}

func TestHelperAnswersAreCached(t *testing.T) {
	d := isolate(t)
	log := fakeHelper(t, d)
	k, err := NewKeychain(write(t, filepath.Join(d, "a.json"), `{"credHelpers":{"h.io":"fake"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"h.io/a", "h.io/b/c", "h.io/a"} {
		if c, err := resolve(t, k, r); err != nil || c.Username != "helper-user" {
			t.Fatalf("%s: %+v %v", r, c.Username, err)
		}
	}
	k.Source(resource(t, "h.io/a"))
	b, _ := os.ReadFile(log)
	if got := strings.Fields(string(b)); !reflect.DeepEqual(got, []string{"h.io"}) {
		t.Errorf("helper asked %q, want once for h.io", got)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name     string
		content  string
		explicit bool   // as --authfile; else as the XDG default file
		resolve  string // error comes from Resolve(resolve), not NewKeychain
		want     []string
	}{
		{
			name:    "bad base64",
			content: authsJSON("r.io", `{"auth":"!!not*base64`+secret+`"}`),
			resolve: "r.io/a", explicit: true,
			want: []string{`auths["r.io"]`, `"auth" is not valid base64`, "fix:"},
		},
		{
			name:    "no colon",
			content: authsJSON("r.io/ns", `{"auth":"`+b64("nocolon"+secret)+`"}`),
			resolve: "r.io/ns/a", explicit: true,
			want: []string{`auths["r.io/ns"]`, "does not decode to user:password"},
		},
		{
			name:     "bad JSON with line and column",
			content:  "{\n  \"auths\": {\n    \"r.io\": " + secret + "\n  }\n}\n",
			explicit: true,
			want:     []string{"line 3, column 13", "not valid JSON"},
		},
		{
			name:     "truncated JSON",
			content:  "{\n  \"auths\": {\n",
			explicit: true,
			want:     []string{"line 3", "not valid JSON"},
		},
		{
			name:     "wrong type",
			content:  "{\"auths\": {\n  \"r.io\": {\"auth\": 12345}\n}}",
			explicit: true,
			want:     []string{"line 2", `is a JSON number, want a string`},
		},
		{
			name:     "not an object",
			content:  `["` + secret + `"]`,
			explicit: true,
			want:     []string{"line 1, column 1", "JSON array"},
		},
		{
			name:    "default file that does not parse",
			content: "{\"auths\": " + secret + "}",
			want:    []string{"line 1, column 11", "not valid JSON"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := isolate(t)
			p := defaultPaths(d)["xdg"]
			explicit := ""
			if c.explicit {
				p = filepath.Join(d, "explicit.json")
				explicit = p
			}
			write(t, p, c.content)
			k, err := NewKeychain(explicit)
			if c.resolve != "" {
				if err != nil {
					t.Fatalf("NewKeychain: %v", err)
				}
				_, err = k.Resolve(resource(t, c.resolve))
				noSecret(t, "Source", k.Source(resource(t, c.resolve)))
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q", err, w)
				}
			}
			noSecret(t, "error", errText(err)...)
			if strings.Contains(err.Error(), "nocolon") {
				t.Errorf("error shows the decoded value: %v", err)
			}
		})
	}

	t.Run("bad entry for another registry is not an error", func(t *testing.T) {
		d := isolate(t)
		p := write(t, filepath.Join(d, "a.json"), authsJSON("bad.io", `{"auth":"***"}`, "r.io", basic("good")))
		k, err := NewKeychain(p)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := resolve(t, k, "r.io/a"); err != nil || c.Username != "good" {
			t.Errorf("got %q %v", c.Username, err)
		}
	})

	t.Run("explicit missing file", func(t *testing.T) {
		d := isolate(t)
		p := filepath.Join(d, "nope.json")
		_, err := NewKeychain(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "does not exist; fix:") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("explicit directory", func(t *testing.T) {
		d := isolate(t)
		_, err := NewKeychain(d)
		if err == nil || !strings.Contains(err.Error(), d) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNilAndStrings(t *testing.T) {
	var k *Keychain
	a, err := k.Resolve(resource(t, "quay.io/a"))
	if err != nil || a != authn.Anonymous {
		t.Errorf("nil keychain: %v %v", a, err)
	}
	d := isolate(t)
	p := write(t, filepath.Join(d, "a.json"), authsJSON("r.io", basic("u")))
	k, err = NewKeychain(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err = k.Resolve(resource(t, "r.io/a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprint(k), fmt.Sprintf("%+v", k), k.Source(resource(t, "r.io/a"))} {
		noSecret(t, "String", s)
		if !strings.Contains(s, p) {
			t.Errorf("%q does not name the file", s)
		}
	}
	if !reflect.DeepEqual(k.Paths(), []string{p}) {
		t.Errorf("Paths = %q", k.Paths())
	}
}
