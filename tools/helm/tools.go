//go:build tools

// Package tools pins the helm CLI that the tests run against charts in a
// mirror (helm pull oci://, helm show chart, helm template), built by
// `make tools` into bin/.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
