package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Problem is an RFC 9457 problem details answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists what is wrong with each field, for validation problems.
	Errors []ledger.FieldError `json:"errors,omitempty"`
	// CurrentVersion is the reimbursement's version, for a failed If-Match.
	CurrentVersion *int64 `json:"current_version,omitempty"`
	// headers go with the answer (WWW-Authenticate, Retry-After).
	headers map[string]string
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// problemTypes maps domain error codes to their problem type and status.
// Problem types are relative URIs, listed in docs/openapi.yaml and the README.
var problemTypes = map[ledger.Code]struct {
	status int
	typ    string
	title  string
}{
	ledger.EInvalid:            {http.StatusUnprocessableEntity, "/problems/validation", "The request has invalid fields"},
	ledger.ENotFound:           {http.StatusNotFound, "/problems/not-found", "Not found"},
	ledger.EConflict:           {http.StatusConflict, "/problems/conflict", "Conflict with the current state"},
	ledger.EForbidden:          {http.StatusForbidden, "/problems/forbidden", "Not allowed"},
	ledger.EUnauthenticated:    {http.StatusUnauthorized, "/problems/unauthenticated", "Not authenticated"},
	ledger.EPreconditionFailed: {http.StatusPreconditionFailed, "/problems/stale-version", "The reimbursement has changed"},
	ledger.ETooLarge:           {http.StatusRequestEntityTooLarge, "/problems/body-too-large", http.StatusText(http.StatusRequestEntityTooLarge)},
	ledger.EUnsupportedType:    {http.StatusUnsupportedMediaType, "/problems/unsupported-media-type", http.StatusText(http.StatusUnsupportedMediaType)},
}

// newProblem returns a problem for a status that needs no domain code.
func newProblem(status int, typ, detail string) *Problem {
	return &Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// badRequest is a 400: the body or query could not be read as the API's JSON.
func badRequest(detail string, fields ...ledger.FieldError) *Problem {
	p := newProblem(http.StatusBadRequest, "/problems/malformed-request", detail)
	p.Errors = fields
	return p
}

// retryCaughtUp is the Retry-After, in seconds, of a list whose read model
// has not reached min_position: it is usually milliseconds behind, so a
// list still behind after the wait is stalled for now.
const retryCaughtUp = "1"

// toProblem is the one place errors become HTTP answers.
func toProblem(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	switch {
	case errors.Is(err, app.ErrBadPositionToken), errors.Is(err, app.ErrUnknownPosition):
		// A query value that names nothing, like a cursor never handed out.
		return badRequest("min_position must be a Ledger-Position a command answered you, as it was handed out",
			ledger.FieldError{Field: "min_position", Message: "is not a Ledger-Position handed out to you"}), true
	case errors.Is(err, app.ErrNotCaughtUp):
		p := newProblem(http.StatusServiceUnavailable, "/problems/not-caught-up",
			"the lists have not caught up with min_position yet; the event is recorded: retry after the time Retry-After gives")
		p.Title = "The lists have not caught up yet"
		p.headers = map[string]string{"Retry-After": retryCaughtUp}
		return p, true
	}
	var de *ledger.Error
	if errors.As(err, &de) {
		if t, ok := problemTypes[de.Code]; ok {
			p := &Problem{Type: t.typ, Title: t.title, Status: t.status, Detail: de.Message, Errors: de.Fields}
			if de.Code == ledger.EPreconditionFailed {
				v := de.CurrentVersion
				p.CurrentVersion = &v
			}
			return p, true
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail := http.StatusText(he.Code)
		if msg, ok := he.Message.(string); ok {
			detail = msg
		}
		typ := "about:blank"
		if he.Code == http.StatusRequestEntityTooLarge {
			typ, detail = "/problems/body-too-large", fmt.Sprintf("the request body must be at most %s", maxBodySize)
		}
		return newProblem(he.Code, typ, detail), true
	}
	return newProblem(http.StatusInternalServerError, "about:blank", "the ledger could not complete the request; it has been logged"), false
}

// errorHandler answers every error as application/problem+json.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, known := toProblem(err)
	if !known || p.Status >= 500 {
		s.logger.ErrorContext(c.Request().Context(), "request failed", "error", err,
			"method", c.Request().Method, "path", c.Path())
	}
	body, mErr := json.Marshal(p)
	if mErr != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
	}
	for k, v := range p.headers {
		c.Response().Header().Set(k, v)
	}
	if c.Request().Method == http.MethodHead {
		// GET's headers without its body: net/http sends a Content-Length
		// set here, and drops the body of a HEAD.
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
		err = c.NoContent(p.Status)
	} else {
		err = c.Blob(p.Status, "application/problem+json", body)
	}
	if err != nil {
		s.logger.Error("write problem", "error", err)
	}
}
