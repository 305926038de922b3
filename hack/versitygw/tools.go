//go:build tools

// Package tools records the versitygw command built from this module, so `go mod tidy`
// keeps its dependencies.
package tools

import (
	_ "github.com/versity/versitygw/cmd/versitygw"
)
