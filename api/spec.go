// Package api holds the REST API's OpenAPI description, the source of truth
// from which the server and client code are generated.
//
// The description lives in openapi.yaml next to this file. The chi server
// interface and models in internal/httpapi and the Go client in package client
// are generated from it by oapi-codegen (go generate ./internal/httpapi
// ./client); a test in this package fails when the committed code is stale.
package api

import _ "embed"

//go:embed openapi.yaml
var spec []byte

// Spec returns the OpenAPI 3.0 description of the REST API, as YAML: the
// document a node serves at GET /openapi.yaml. The returned slice is shared;
// callers must not modify it.
func Spec() []byte {
	return spec
}
