package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Headers of safe retries.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	maxIdempotencyKey    = 255
)

// reply is a command's answer before it is written, so that it can be
// stored for replays.
type reply struct {
	status  int
	headers map[string]string
	body    any
}

// command runs a POST's effect for principal p. With an Idempotency-Key
// the effect and its answer are recorded together, and a repeat of the same
// request gets the stored answer with Idempotent-Replayed: true instead of a
// second effect. run gets the use cases to call: bound to the key's
// transaction when there is a key.
func (s *Server) command(c echo.Context, p app.Principal, run func(ctx context.Context, a *app.App) (reply, error)) error {
	key, present := c.Request().Header[headerIdempotencyKey]
	if !present {
		r, err := run(c.Request().Context(), s.app)
		if err != nil {
			return err
		}
		return r.write(c)
	}
	if len(key) != 1 || !validIdempotencyKey(key[0]) {
		return badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters, sent once",
			ledger.FieldError{Field: headerIdempotencyKey, Message: "must be 1 to 255 printable ASCII characters"})
	}
	stored, replayed, err := s.app.Idempotently(c.Request().Context(), p, key[0], s.fingerprint(c),
		func(ctx context.Context, bound *app.App) (app.StoredResponse, error) {
			r, err := run(ctx, bound)
			if err != nil {
				return app.StoredResponse{}, err
			}
			body, err := json.Marshal(r.body)
			if err != nil {
				return app.StoredResponse{}, err
			}
			return app.StoredResponse{Status: r.status, Headers: r.headers, Body: append(body, '\n')}, nil
		})
	if err != nil {
		return err
	}
	for k, v := range stored.Headers {
		c.Response().Header().Set(k, v)
	}
	c.Response().Header().Set(headerReplayed, strconv.FormatBool(replayed))
	return c.Blob(stored.Status, echo.MIMEApplicationJSON, stored.Body)
}

// write sends the reply.
func (r reply) write(c echo.Context) error {
	for k, v := range r.headers {
		c.Response().Header().Set(k, v)
	}
	return c.JSON(r.status, r.body)
}

func validIdempotencyKey(key string) bool {
	if key == "" || len(key) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies a request: method, path and the body in canonical
// form (keys sorted, no insignificant white space), so that a retry that
// re-serialises the same JSON is the same request. An account number in the
// body counts by its keyed digest: the fingerprint is stored with the key,
// and a plain hash over a body whose other fields the answer shows would
// give a short number away.
func (s *Server) fingerprint(c echo.Context) []byte {
	h := sha256.New()
	h.Write([]byte(c.Request().Method + " " + c.Request().URL.Path + "\n"))
	raw, _ := c.Get(rawBodyKey).([]byte)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		if body, ok := v.(map[string]any); ok {
			for k, number := range body {
				if n, ok := number.(string); ok && foldKey(k) == foldKey("account_number") {
					body[k] = "digest:" + s.app.AccountNumberDigest(n)
				}
			}
		}
		if canonical, err := json.Marshal(v); err == nil {
			raw = canonical
		}
	}
	h.Write(raw)
	return h.Sum(nil)
}

// ifMatch reads If-Match (RFC 9110): nil when absent or "*" (any current
// version); otherwise the versions it names. Weak tags never match, because
// If-Match compares strongly.
func ifMatch(c echo.Context) ([]int64, error) {
	values := c.Request().Header.Values("If-Match")
	if len(values) == 0 {
		return nil, nil
	}
	versions := []int64{}
	for _, value := range values {
		for _, tag := range strings.Split(value, ",") {
			tag = strings.TrimSpace(tag)
			switch {
			case tag == "*":
				return nil, nil
			case strings.HasPrefix(tag, `W/"`):
				continue
			case len(tag) >= 3 && tag[0] == '"' && tag[len(tag)-1] == '"':
				if v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64); err == nil && v > 0 {
					versions = append(versions, v)
					continue
				}
				versions = append(versions, -1) // a tag that names no version: never matches
			default:
				return nil, badRequest(`If-Match must hold entity tags such as "1", or *`,
					ledger.FieldError{Field: "If-Match", Message: `must be entity tags such as "1", or *`})
			}
		}
	}
	return versions, nil
}
