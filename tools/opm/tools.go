//go:build tools

// Package opm pins the version of opm (operator-registry's CLI) that the
// tests use to validate rebuilt catalogs: make tools builds it into bin/opm.
package opm

import _ "github.com/operator-framework/operator-registry/cmd/opm"
