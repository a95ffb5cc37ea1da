// Command demo runs ocm end to end on this machine: it starts two local
// registries (a "source" standing in for the internet and a "mirror"), fills
// the source with sample images, then mirrors them to disk and to the mirror
// with the real ocm commands chained by shell pipes. `make demo` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ocm-mirror/ocm/lib/fixture"
	"github.com/ocm-mirror/ocm/lib/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	out, err := filepath.Abs("demo-out")
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	bin, err := filepath.Abs("bin")
	if err != nil {
		return err
	}
	say("starting a source registry and a mirror registry on 127.0.0.1 (docker-registry)")
	src, err := testenv.StartRegistry(ctx, filepath.Join(out, "source-registry"), testenv.RegistryOptions{})
	if err != nil {
		return err
	}
	defer src.Stop()
	dst, err := testenv.StartRegistry(ctx, filepath.Join(out, "mirror-registry"), testenv.RegistryOptions{})
	if err != nil {
		return err
	}
	defer dst.Stop()
	say("source: %s   mirror: %s", src.Host, dst.Host)

	say("building sample images into the source (single-arch, a 4-arch index, shared layers, Docker v2 types)")
	set, err := fixture.Additional(ctx, fixture.Options{Host: src.Host})
	if err != nil {
		return err
	}
	var isc strings.Builder
	isc.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, img := range set.Images {
		ref := src.Host + "/" + img.Repo
		if img.Tag != "" {
			ref += ":" + img.Tag
		} else {
			ref += "@" + img.Digest
		}
		fmt.Fprintf(&isc, "  - name: %s\n", ref)
	}
	fmt.Fprintf(&isc, "  blockedImages:\n  - name: %s/library/alpine\n", src.Host)
	iscPath := filepath.Join(out, "isc.yaml")
	if err := os.WriteFile(iscPath, []byte(isc.String()), 0o644); err != nil {
		return err
	}
	say("image set configuration: %s", iscPath)

	steps := []struct{ title, script string }{
		{"mirror to disk: plan | fetch into a local cache", "ocm-plan -c isc.yaml | ocm-fetch --cache cache > fetched.jsonl"},
		{"mirror to mirror: plan | push", fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s/demo > pushed.jsonl", dst.Host)},
		{"the same again: nothing moves", fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s/demo > /dev/null", dst.Host)},
		{"what the mirror holds, read back with skopeo", fmt.Sprintf(
			`for t in $(grep -o '"target":"[^"]*"' pushed.jsonl | cut -d'"' -f4); do printf '%%-70s %%s\n' "$t" "$(skopeo inspect --raw --tls-verify=false docker://$t | sha256sum | cut -c1-19)"; done`)},
	}
	for _, s := range steps {
		say("%s\n  $ %s", s.title, s.script)
		cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; "+s.script)
		cmd.Dir = out
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	say("done. Records: %s/fetched.jsonl and %s/pushed.jsonl; cache (OCI layout): %s/cache\n  the registries stop now; their data stays under %s", out, out, out, out)
	return nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\n==> "+format+"\n", args...)
}
