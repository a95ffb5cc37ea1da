// Command mkimage builds ocm's container image without a container engine:
// the seven commands, built static and reproducible, on an empty base with a
// CA bundle, a non-root user and fixed timestamps, written as an OCI layout
// and, with --push, to a registry. The same source, Go version and
// SOURCE_DATE_EPOCH give the same digest. `make image` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// exitUsage and exitFailed follow the ocm commands' exit codes.
const (
	exitUsage  = 2
	exitFailed = 1
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkimage [--out DIR] [--push docker://HOST/REPO:TAG] [flags]\n\nBuilds the ocm commands (static, -trimpath) into an OCI image layout and prints its digest.\n\nFlags:")
		fs.PrintDefaults()
	}
	var o Options
	fs.StringVar(&o.Out, "out", "bin/image", "OCI image layout directory to write (replaced whole)")
	fs.StringVar(&o.BinDir, "bin", "", "take the commands from this directory instead of building them (they must be static)")
	fs.StringVar(&o.Module, "module", ".", "root of the ocm module, to build the commands in")
	fs.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates (PEM) to ship as /etc/ssl/certs/ca-certificates.crt")
	fs.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the image")
	fs.StringVar(&o.Version, "version", "", "version label (default: git describe)")
	fs.StringVar(&o.Revision, "revision", "", "revision label (default: git rev-parse HEAD)")
	fs.StringVar(&o.Source, "source", "https://github.com/ocm-mirror/ocm", "source label")
	fs.StringVar(&o.Tag, "tag", "", "name of the image in the layout (default: the version)")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "seconds since 1970 stamped on every file and the image (default $SOURCE_DATE_EPOCH, else the last commit's time)")
	push := fs.String("push", "", "also push the image to docker://HOST[:PORT]/REPO[:TAG]")
	tlsVerify := fs.Bool("dest-tls-verify", true, "require HTTPS and verify certificates when pushing (plain HTTP is tried only for loopback)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkimage: unexpected argument %q; fix: see mkimage --help\n", fs.Arg(0))
		return exitUsage
	}
	ctx := context.Background()
	if err := o.defaults(ctx, *epoch); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		return exitUsage
	}
	var dest *PushTarget
	if *push != "" {
		t, err := ParsePush(*push, *tlsVerify)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
			return exitUsage
		}
		dest = t
	}
	digest, err := Make(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		if errors.Is(err, ErrInput) {
			return exitUsage
		}
		return exitFailed
	}
	fmt.Fprintf(os.Stderr, "mkimage: wrote %s (%s, %s)\n", o.Out, o.Tag, o.Arch)
	if dest != nil {
		if err := Push(ctx, o.Out, dest); err != nil {
			fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(os.Stderr, "mkimage: pushed %s@%s\n", dest.Ref.Context(), digest)
	}
	fmt.Println(digest)
	return 0
}

func (o *Options) defaults(ctx context.Context, epoch string) error {
	if epoch == "" {
		out, err := git(ctx, o.Module, "log", "-1", "--format=%ct")
		if err != nil {
			return fmt.Errorf("%w: no SOURCE_DATE_EPOCH and no git commit to take it from (%v); fix: set SOURCE_DATE_EPOCH or --source-date-epoch", ErrInput, err)
		}
		epoch = out
	}
	n, err := strconv.ParseInt(strings.TrimSpace(epoch), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%w: SOURCE_DATE_EPOCH %q: want seconds since 1970", ErrInput, epoch)
	}
	o.Epoch = n
	if o.Version == "" {
		if o.Version, err = git(ctx, o.Module, "describe", "--tags", "--always", "--dirty"); err != nil {
			o.Version = "dev"
		}
	}
	if o.Revision == "" {
		o.Revision, _ = git(ctx, o.Module, "rev-parse", "HEAD")
	}
	if o.Tag == "" {
		o.Tag = o.Version
	}
	return nil
}
