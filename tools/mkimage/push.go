package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushTarget is where --push sends the image.
type PushTarget struct{ Ref name.Reference }

// ParsePush reads docker://HOST[:PORT]/REPO[:TAG]. Plain HTTP is allowed
// for loopback hosts, or anywhere when tlsVerify is off.
func ParsePush(s string, tlsVerify bool) (*PushTarget, error) {
	rest, ok := strings.CutPrefix(s, "docker://")
	if !ok {
		return nil, fmt.Errorf("%w: --push %q: want docker://HOST[:PORT]/REPO[:TAG]", ErrInput, s)
	}
	var opts []name.Option
	host, _, _ := strings.Cut(rest, "/")
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if ip := net.ParseIP(h); !tlsVerify || h == "localhost" || (ip != nil && ip.IsLoopback()) {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(rest, append(opts, name.StrictValidation)...)
	if err != nil {
		if ref, err = name.ParseReference(rest, opts...); err != nil {
			return nil, fmt.Errorf("%w: --push %q: %v", ErrInput, s, err)
		}
	}
	if !strings.Contains(rest, "/") {
		return nil, fmt.Errorf("%w: --push %q names no repository; fix: docker://HOST/REPO:TAG", ErrInput, s)
	}
	return &PushTarget{Ref: ref}, nil
}

// Push copies the image of the layout at dir to t, with the credentials of
// the usual auth files (~/.docker/config.json, $REGISTRY_AUTH_FILE...).
func Push(ctx context.Context, dir string, t *PushTarget) error {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("%s holds %d images, want 1", dir, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if err := remote.Write(t.Ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing to %s: %w", t.Ref, err)
	}
	return nil
}
