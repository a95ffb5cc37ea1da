//go:build tools

// Package tools pins distribution v3's registry, which the tests start with
// validation.manifests.indexes.platforms: none to hold sparse indexes (an
// index whose other platforms' manifests are absent), built by `make tools`
// into bin/registry-v3.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
