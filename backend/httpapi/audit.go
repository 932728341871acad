package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/audit"
)

func (s *Server) listCheckpoints(c echo.Context) error {
	after, err := queryInt(c, "after")
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, maxEventLimit)
	if err != nil {
		return err
	}
	cps, err := s.app.Checkpoints(c.Request().Context(), principal(c), after, limit)
	if err != nil {
		return err
	}
	out := list[audit.Checkpoint]{Items: cps}
	if len(cps) == limit {
		next := strconv.FormatInt(cps[len(cps)-1].ID, 10)
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

type verifyJSON struct {
	OK bool `json:"ok"`
	audit.Report
}

// verifyAudit recomputes every hash chain and checkpoint. It answers 200 with
// ok false and the first problem when the log was tampered with: the request
// succeeded, the log did not pass.
func (s *Server) verifyAudit(c echo.Context) error {
	report, err := s.app.Verify(c.Request().Context(), principal(c), nil)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, verifyJSON{OK: report.OK(), Report: report})
}
