//go:build tools

// Package tools pins the cosign CLI that the tests run against mirrors
// (cosign verify --key, cosign tree), built by `make tools` into bin/.
package tools

import (
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
