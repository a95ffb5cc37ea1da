package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrInput marks a bad flag, file or binary (exit 2).
var ErrInput = errors.New("bad input")

// Commands are the programs the image ships, in /usr/local/bin.
var Commands = []string{"ocm-plan", "ocm-fetch", "ocm-push", "ocm-pack", "ocm-unpack", "ocm-resources", "ocm-delete"}

// The image's user: not root, and the uid distroless images use, so that
// clusters' "runAsNonRoot" policies and volume permissions see a number.
const (
	UID  = 65532
	User = "nonroot"
	Home = "/home/nonroot"
)

// BinDir is where the commands are in the image.
const BinDir = "/usr/local/bin"

// CertFile is where the CA bundle is in the image (Debian's path, which Go
// reads by default, also named by SSL_CERT_FILE).
const CertFile = "/etc/ssl/certs/ca-certificates.crt"

// Options of one image build.
type Options struct {
	Out      string // OCI layout directory
	BinDir   string // prebuilt commands; "" builds them
	Module   string // module root to build in
	CABundle string
	Arch     string
	Version  string
	Revision string
	Source   string
	Tag      string
	Epoch    int64 // SOURCE_DATE_EPOCH
}

// GoBuildArgs are the flags that make the commands static and reproducible:
// no cgo, no local paths, no build id, no VCS stamp (a dirty tree would
// change it; the version is in the image's labels instead).
var GoBuildArgs = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// BuildCommands builds the commands of the module at root into dir.
func BuildCommands(ctx context.Context, root, dir, arch string) error {
	args := append([]string{}, GoBuildArgs...)
	args = append(args, "-o", dir+string(os.PathSeparator))
	for _, c := range Commands {
		args = append(args, "./cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, stderr.String())
	}
	return nil
}

// Make builds (unless o.BinDir is given) and writes the image to o.Out and
// returns its manifest digest.
func Make(ctx context.Context, o Options) (string, error) {
	bin := o.BinDir
	if bin == "" {
		tmp, err := os.MkdirTemp("", "mkimage-bin-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if err := BuildCommands(ctx, o.Module, tmp, o.Arch); err != nil {
			return "", err
		}
		bin = tmp
	}
	img, err := Image(o, bin)
	if err != nil {
		return "", err
	}
	if err := WriteLayout(o.Out, img, o.Tag, o.Arch); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Image assembles the image from the commands in bin.
func Image(o Options, bin string) (v1.Image, error) {
	mtime := time.Unix(o.Epoch, 0).UTC()
	files, err := rootfs(o, bin)
	if err != nil {
		return nil, err
	}
	tarBytes, err := tarOf(files, mtime)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: mtime}, CreatedBy: "mkimage: " + strings.Join(Commands, " ") + ", CA bundle, user " + User, Comment: o.Version},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Created = v1.Time{Time: mtime}
	cf.Author = ""
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		WorkingDir: Home,
		Env: []string{
			"PATH=" + BinDir + ":/usr/bin:/bin",
			"SSL_CERT_FILE=" + CertFile,
			"HOME=" + Home,
		},
		// Seven commands, no shell: the container's command names the one
		// to run (a Kubernetes `command:`, `docker run IMAGE ocm-push ...`).
		Cmd: []string{"ocm-plan", "--help"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "ocm",
			"org.opencontainers.image.description": "mirror OpenShift releases, operator catalogs and images into disconnected registries",
			"org.opencontainers.image.source":      o.Source,
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.revision":    o.Revision,
			"org.opencontainers.image.created":     mtime.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of the image's file system.
type file struct {
	name string // without leading slash
	mode int64  // permission bits (and sticky)
	dir  bool
	uid  int
	body []byte
}

func rootfs(o Options, bin string) ([]file, error) {
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("%w: CA bundle: %v; fix: install ca-certificates or give --ca-bundle", ErrInput, err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%w: CA bundle %s holds no PEM certificate", ErrInput, o.CABundle)
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", User, UID, UID, User, Home)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", User, UID)
	fs := []file{
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(CertFile, "/"), mode: 0o644, body: ca},
		{name: "home", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(Home, "/"), dir: true, mode: 0o700, uid: UID},
		{name: "root", dir: true, mode: 0o700},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "usr", dir: true, mode: 0o755},
		{name: "usr/local", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(BinDir, "/"), dir: true, mode: 0o755},
	}
	for _, c := range Commands {
		p := filepath.Join(bin, c)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v; fix: build the commands (make image does)", ErrInput, err)
		}
		if err := static(p, o.Arch); err != nil {
			return nil, err
		}
		fs = append(fs, file{name: strings.TrimPrefix(BinDir, "/") + "/" + c, mode: 0o755, body: b})
	}
	return fs, nil
}

// static checks that p is a Linux executable for arch with no dynamic
// loader: the image has no libc.
func static(p, arch string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Linux executable: %v", ErrInput, p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s is dynamically linked; fix: build with CGO_ENABLED=0", ErrInput, p)
		}
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390}[arch]
	if want != 0 && f.Machine != want {
		return fmt.Errorf("%w: %s is for %v, not %s; fix: build with GOARCH=%s", ErrInput, p, f.Machine, arch, arch)
	}
	return nil
}

// tarOf writes files sorted by name, owned by root (but for uid), with one
// mtime and no user or group names: nothing of the build machine leaks in.
func tarOf(files []file, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid,
			ModTime: mtime, Format: tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes img as the only image of a new OCI layout at dir,
// built beside it and renamed into place: never half a layout.
func WriteLayout(dir string, img v1.Image, tag, arch string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img,
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
		return fmt.Errorf("writing %s: %w", dir, err)
	}
	// Readable by all, as a registry's files: go-containerregistry leaves
	// blobs 0600 from their temp files.
	err = filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	if err != nil {
		return err
	}
	old := tmp + ".old"
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	return os.Rename(tmp, dir)
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
