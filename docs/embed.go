// Package docs embeds the API description that the ledger serves. It lives
// beside docs/openapi.yaml because Go embeds files only from a package's own
// directory.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
