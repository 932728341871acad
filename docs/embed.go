// Package docs embeds the API description that the ledger serves and the
// reference page made from it. It lives beside docs/openapi.yaml because Go
// embeds files only from a package's own directory.
package docs

import "embed"

// OpenAPI is docs/openapi.yaml, the description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Reference is what /docs serves: the page (reference/index.html), its
// start-up script, and the Swagger UI files that docs/reference/refresh.mjs
// copies from the version pinned in docs/package-lock.json.
//
//go:embed reference/index.html reference/reference.js reference/swagger-ui-bundle.js reference/swagger-ui.css
var Reference embed.FS
