package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// maxBodySize bounds every request body.
const maxBodySize = "64KB"

// rawBodyKey keeps the body read by decodeJSON, for the idempotency fingerprint.
const rawBodyKey = "raw_body"

// decodeJSON reads the request body into dst strictly: application/json
// only, one JSON object, no key twice, no unknown fields, each field of its
// own JSON type, and every string valid UTF-8.
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
	// encoding/json lets the last of two equal keys win and replaces invalid
	// UTF-8 silently; a gateway reading the first key, or the raw bytes,
	// would see another request. scanJSON finds both; the decoder below
	// reports malformed JSON itself.
	dup, invalidUTF8 := scanJSON(body)
	if dup != "" {
		return badRequest(fmt.Sprintf("the body has the key %q more than once", dup),
			ledger.FieldError{Field: dup, Message: "appears more than once"})
	}
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
	if len(invalidUTF8) > 0 {
		fields := make([]ledger.FieldError, len(invalidUTF8))
		for i, f := range invalidUTF8 {
			fields[i] = ledger.FieldError{Field: f, Message: "must be valid UTF-8"}
		}
		return invalidFields(fields)
	}
	return nil
}

// scanJSON walks a JSON document and returns the path of the first key that
// appears twice in one object (compared as encoding/json matches keys to
// fields: case-insensitively), and the paths of the strings that are not
// valid UTF-8 (raw bytes, or an escaped lone surrogate), which encoding/json
// would replace with U+FFFD. Paths join keys with dots and index arrays
// ("items[2].amount"). Malformed JSON ends the walk early: the decoder
// reports it.
func scanJSON(body []byte) (duplicate string, invalidUTF8 []string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		path   string
		keys   map[string]bool
		key    string // the key whose value comes next, in an object
		index  int    // the next element's index, in an array
	}
	var stack []*frame
	// child is the path of the value about to be read.
	child := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.object {
			return joinPath(f.path, f.key)
		}
		return fmt.Sprintf("%s[%d]", f.path, f.index)
	}
	// consumed marks the value just read as done in its container.
	consumed := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.key = ""
		} else {
			f.index++
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", invalidUTF8
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', path: child(), keys: map[string]bool{}})
			case '}', ']':
				stack = stack[:len(stack)-1]
				consumed()
			}
		case string:
			raw := body[start:dec.InputOffset()]
			if f := stack; len(f) > 0 && f[len(f)-1].object && f[len(f)-1].key == "" {
				// A key.
				top := f[len(f)-1]
				top.key = t
				folded := foldKey(t)
				if top.keys[folded] {
					return joinPath(top.path, t), invalidUTF8
				}
				top.keys[folded] = true
				if !validJSONString(raw, t) {
					invalidUTF8 = append(invalidUTF8, joinPath(top.path, t))
				}
				continue
			}
			if !validJSONString(raw, t) {
				invalidUTF8 = append(invalidUTF8, child())
			}
			consumed()
		default:
			consumed()
		}
		if len(stack) == 0 {
			return "", invalidUTF8
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// validJSONString reports whether a string token's raw bytes (with the
// separators before it) were valid UTF-8 and named no lone surrogate:
// encoding/json turns both into U+FFFD, so a decoded string holding more
// U+FFFD than the raw text wrote, literally or as \ufffd, was invalid.
func validJSONString(raw []byte, decoded string) bool {
	if !utf8.Valid(raw) {
		return false
	}
	replaced := strings.Count(decoded, "\uFFFD")
	if replaced == 0 {
		return true
	}
	written := bytes.Count(raw, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(raw), []byte(`\ufffd`))
	return replaced <= written
}

// foldKey maps a key to one representative of its case-folding class, so
// that keys encoding/json would match to the same field compare equal.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, key)
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

// requiredFields names each of the body's required fields that it left out
// or sent as null: "is required", in every command alike. A field sent as
// "" is there, and its rules answer for it ("must not be empty"). Keys
// match fields as encoding/json matches them, in any letter case.
func requiredFields(c echo.Context, names ...string) error {
	raw, _ := c.Get(rawBodyKey).([]byte)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(raw, &body) // decodeJSON has read it as one object
	present := map[string]bool{}
	for k, v := range body {
		if string(v) != "null" {
			present[foldKey(k)] = true
		}
	}
	var fields []ledger.FieldError
	for _, name := range names {
		if !present[foldKey(name)] {
			fields = append(fields, ledger.FieldError{Field: name, Message: "is required"})
		}
	}
	return invalidFields(fields)
}

// deref is the string p points to, or "" for nil (a field left out or null).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
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

// refuseEmptyQuery answers 400 to a query parameter sent without a value
// (?cursor=, ?status): leaving it out means "none"; an empty one is more
// likely a client's unset variable than a wish for every row.
func refuseEmptyQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var empty []ledger.FieldError
		for name, values := range c.QueryParams() {
			if slices.Contains(values, "") {
				empty = append(empty, ledger.FieldError{Field: name, Message: "must not be empty: leave it out or give it a value"})
			}
		}
		if len(empty) > 0 {
			slices.SortFunc(empty, func(a, b ledger.FieldError) int { return strings.Compare(a.Field, b.Field) })
			names := make([]string, len(empty))
			for i, f := range empty {
				names[i] = f.Field
			}
			return badRequest("query parameters must not be empty: "+strings.Join(names, ", "), empty...)
		}
		return next(c)
	}
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
