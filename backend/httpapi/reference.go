package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/docs"
)

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", docs.OpenAPI)
}

// referencePolicy keeps the reference page to its own origin: scripts,
// styles, images and requests ("Try it out") go to this ledger only.
// Swagger UI sets inline styles and draws its icons from data: URLs.
const referencePolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// referenceFile is one file of the reference, with its entity tag.
type referenceFile struct {
	name string
	body []byte
	etag string
}

// loadReference reads the embedded reference files once, at start.
func loadReference() (map[string]referenceFile, error) {
	files := map[string]referenceFile{}
	err := fs.WalkDir(docs.Reference, "reference", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := docs.Reference.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := path.Base(p)
		files[name] = referenceFile{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return files, err
}

// reference serves the API reference page: Swagger UI over /v1/openapi.yaml.
func (s *Server) reference(c echo.Context) error {
	return s.serveReferenceFile(c, "index.html")
}

// referenceAsset serves the script and styles the page loads.
func (s *Server) referenceAsset(c echo.Context) error {
	name := c.Param("file")
	if name == "index.html" {
		return ledger.Errorf(ledger.ENotFound, "no file %q in the reference", name)
	}
	return s.serveReferenceFile(c, name)
}

func (s *Server) serveReferenceFile(c echo.Context, name string) error {
	f, ok := s.referenceFiles[name]
	if !ok {
		return ledger.Errorf(ledger.ENotFound, "no file %q in the reference", name)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", referencePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	// The files change only with the binary: revalidate each time, cheaply.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(c.Response(), c.Request(), f.name, time.Time{}, bytes.NewReader(f.body))
	return nil
}
