package catalog

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
)

func TestServeArgs(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ep, cmd         []string
		wantEp, wantCmd []string
		wantChanged     bool
	}{
		{"redhat index", []string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
			[]string{"/bin/opm"}, []string{"serve", "/configs"}, true},
		{"value as next argument", []string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dir", "/tmp/cache", "--port", "50051"},
			[]string{"/bin/opm"}, []string{"serve", "/configs", "--port", "50051"}, true},
		{"all three flags, in the entrypoint", []string{"/bin/opm", "serve", "--cache-only", "--cache-dir", "/c", "--cache-enforce-integrity=true", "/configs"}, nil,
			[]string{"/bin/opm", "serve", "/configs"}, nil, true},
		{"bool flag does not take the next argument", nil, []string{"opm", "serve", "--cache-enforce-integrity", "/configs"},
			nil, []string{"opm", "serve", "/configs"}, true},
		{"flag in entrypoint, value in cmd", []string{"/bin/opm", "serve", "/configs", "--cache-dir"}, []string{"/tmp/cache", "-p", "50051"},
			[]string{"/bin/opm", "serve", "/configs"}, []string{"-p", "50051"}, true},
		{"no cache flags", []string{"/bin/opm"}, []string{"serve", "/configs", "--pprof-addr=:6060"},
			[]string{"/bin/opm"}, []string{"serve", "/configs", "--pprof-addr=:6060"}, false},
		{"after -- everything is positional", []string{"/bin/opm"}, []string{"serve", "--", "--cache-dir=x"},
			[]string{"/bin/opm"}, []string{"serve", "--", "--cache-dir=x"}, false},
		{"similar names are kept", []string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dirs=x", "--cache"},
			[]string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dirs=x", "--cache"}, false},
		{"dangling --cache-dir", nil, []string{"opm", "serve", "/configs", "--cache-dir"},
			nil, []string{"opm", "serve", "/configs"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, cmd, changed := ServeArgs(tc.ep, tc.cmd)
			if !reflect.DeepEqual(ep, tc.wantEp) || !reflect.DeepEqual(cmd, tc.wantCmd) || changed != tc.wantChanged {
				t.Fatalf("ServeArgs(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.ep, tc.cmd, ep, cmd, changed, tc.wantEp, tc.wantCmd, tc.wantChanged)
			}
		})
	}
}

// TestRebuildDropsServeCacheFlags: the rebuilt image's config starts opm
// without the cache flags and keeps the rest of the config.
func TestRebuildDropsServeCacheFlags(t *testing.T) {
	ctx := context.Background()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{
			"Entrypoint": []string{"/bin/opm"},
			"Cmd":        []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
			"Labels":     map[string]string{ConfigsLabel: "/configs"},
			"User":       "1001",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}},
	}
	cb, _ := json.Marshal(cfg)
	cd, err := c.PutBytes(ctx, cb)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cb)},
		"layers": []any{}})
	md, err := c.PutBytes(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := Layer("configs", "tmp/cache", map[string][]byte{"configs/a/catalog.json": []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	nd, _, _, err := Rebuild(ctx, c, md, layer)
	if err != nil {
		t.Fatal(err)
	}
	nm, err := c.ReadBlob(nd)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Config struct{ Digest string }
	}
	json.Unmarshal(nm, &m)
	nc, err := c.ReadBlob(m.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Config struct {
			Entrypoint, Cmd []string
			User            string
			Labels          map[string]string
		} `json:"config"`
	}
	if err := json.Unmarshal(nc, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config.Entrypoint, []string{"/bin/opm"}) || !reflect.DeepEqual(got.Config.Cmd, []string{"serve", "/configs"}) {
		t.Errorf("rebuilt command %q %q, want [/bin/opm] [serve /configs]", got.Config.Entrypoint, got.Config.Cmd)
	}
	if got.Config.User != "1001" || got.Config.Labels[ConfigsLabel] != "/configs" {
		t.Errorf("rest of the config lost: %+v", got.Config)
	}
}
