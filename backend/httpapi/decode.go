package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// maxBodySize bounds every request body.
const maxBodySize = "64KB"

// rawBodyKey keeps the body read by decodeJSON, for the idempotency fingerprint.
const rawBodyKey = "raw_body"

// decodeJSON reads the request body into dst strictly: application/json
// only, one JSON object, no unknown fields, each field of its own JSON type.
func decodeJSON(c echo.Context, dst any) error {
	mediaType, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mediaType != echo.MIMEApplicationJSON {
		return newProblem(http.StatusUnsupportedMediaType, "/problems/unsupported-media-type",
			"send the body as application/json")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return badRequest("the request body could not be read")
	}
	c.Set(rawBodyKey, body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return badRequest("the body must hold exactly one JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("the body must be a JSON object")
		}
		return badRequest(fmt.Sprintf("field %s has the wrong JSON type", typeErr.Field),
			ledger.FieldError{Field: typeErr.Field, Message: "must be a JSON " + jsonTypeOf(typeErr.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ledger.Error{Code: ledger.EInvalid, Message: "the request has a field the API does not know",
			Fields: []ledger.FieldError{{Field: field, Message: "is not a known field"}}}
	}
	return badRequest("the body could not be read as JSON")
}

func jsonTypeOf(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return "number"
}

// bodyID parses a UUID named in a request body; fields collects the error.
func bodyID(fields *[]ledger.FieldError, name, value string) uuid.UUID {
	id, err := uuid.Parse(value)
	if err != nil || len(value) != 36 {
		msg := "must be a UUID"
		if value == "" {
			msg = "is required"
		}
		*fields = append(*fields, ledger.FieldError{Field: name, Message: msg})
		return uuid.Nil
	}
	return id
}

func invalidFields(fields []ledger.FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &ledger.Error{Code: ledger.EInvalid, Message: "the request has invalid fields", Fields: fields}
}

// pathID parses a UUID in the path; a malformed one names nothing: 404.
func pathID(c echo.Context, name, what string) (uuid.UUID, error) {
	value := c.Param(name)
	id, err := uuid.Parse(value)
	if err != nil || len(value) != 36 {
		return uuid.Nil, ledger.Errorf(ledger.ENotFound, "%s %q not found", what, value)
	}
	return id, nil
}

// Page sizes for lists.
const (
	defaultLimit  = 50
	maxLimit      = 200
	maxEventLimit = 1000
)

// queryLimit reads ?limit=, clamping values above max.
func queryLimit(c echo.Context, max int) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(raw, "-") {
		return max, nil // too large to parse: clamp like any large value
	}
	if err != nil || n < 1 {
		return 0, badRequest("limit must be a positive whole number", ledger.FieldError{Field: "limit", Message: "must be a positive whole number"})
	}
	return min(n, max), nil
}

// queryInt reads a non-negative whole number from the query; 0 when absent.
func queryInt(c echo.Context, name string) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name+" must be a whole number", ledger.FieldError{Field: name, Message: "must be a whole number"})
	}
	return n, nil
}
