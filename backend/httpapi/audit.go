package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

func (s *Server) listCheckpoints(c echo.Context) error {
	return pageAfter(c, func(after int64, limit int) ([]audit.Checkpoint, error) {
		return s.app.Checkpoints(c.Request().Context(), principal(c), after, limit)
	}, func(cp audit.Checkpoint) int64 { return cp.ID })
}

// pageAfter answers a page of a list keyed by a growing number: the items
// after ?after=, ?limit= at most, and the last one's key as the next cursor
// when the page is full.
func pageAfter[T any](c echo.Context, read func(after int64, limit int) ([]T, error), key func(T) int64) error {
	after, err := queryInt(c, "after")
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, maxEventLimit)
	if err != nil {
		return err
	}
	items, err := read(after, limit)
	if err != nil {
		return err
	}
	out := list[T]{Items: items}
	if len(items) == limit {
		next := strconv.FormatInt(key(items[len(items)-1]), 10)
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

type publicKeyJSON struct {
	KeyName         string `json:"key_name"`
	Algorithm       string `json:"algorithm"`
	PublicKey       string `json:"public_key"`
	NoteVerifierKey string `json:"note_verifier_key"`
}

// auditPublicKey answers the key that checks the tree heads.
func (s *Server) auditPublicKey(c echo.Context) error {
	k, err := s.app.PublicKey(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, publicKeyJSON{KeyName: k.Name, Algorithm: audit.Algorithm,
		PublicKey: base64.StdEncoding.EncodeToString(k.Key), NoteVerifierKey: k.NoteKey})
}

func (s *Server) latestHead(c echo.Context) error {
	h, err := s.app.LatestHead(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

// listHeads pages the signed heads by increasing tree size; after and the
// cursor are a tree size.
func (s *Server) listHeads(c echo.Context) error {
	return pageAfter(c, func(after int64, limit int) ([]audit.Head, error) {
		return s.app.Heads(c.Request().Context(), principal(c), after, limit)
	}, func(h audit.Head) int64 { return h.TreeSize })
}

func (s *Server) inclusionProof(c echo.Context) error {
	raw := c.Param("position")
	position, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || position < 1 {
		return ledger.Errorf(ledger.ENotFound, "no event has position %q: positions are whole numbers from 1", raw)
	}
	size, err := queryInt(c, "tree_size")
	if err != nil {
		return err
	}
	proof, err := s.app.InclusionProof(c.Request().Context(), principal(c), position, size)
	if err != nil {
		return queryProblem(err)
	}
	return c.JSON(http.StatusOK, proof)
}

func (s *Server) consistencyProof(c echo.Context) error {
	var bounds [2]int64
	for i, name := range []string{"from", "to"} {
		if c.QueryParam(name) == "" {
			return badRequest(name+" is required", ledger.FieldError{Field: name, Message: "is required"})
		}
		n, err := queryInt(c, name)
		if err != nil {
			return err
		}
		bounds[i] = n
	}
	proof, err := s.app.ConsistencyProof(c.Request().Context(), principal(c), bounds[0], bounds[1])
	if err != nil {
		return queryProblem(err)
	}
	return c.JSON(http.StatusOK, struct {
		Hashes []string `json:"hashes"`
	}{audit.EncodeHashes(proof)})
}

// queryProblem answers a query parameter the use case refused (EInvalid
// naming it) as a malformed request.
func queryProblem(err error) error {
	var invalid *ledger.Error
	if errors.As(err, &invalid) && invalid.Code == ledger.EInvalid {
		return badRequest(invalid.Message, invalid.Fields...)
	}
	return err
}
