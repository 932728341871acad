package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ReceiptChunk is how many bytes of a receipt go in one statement, written
// or read: what either side holds of a receipt at once.
const ReceiptChunk = 256 << 10

// ReceiptBlobs keeps receipts' bytes in PostgreSQL large objects, one row
// of receipts per receipt naming its object.
type ReceiptBlobs struct {
	pool *sql.DB
}

var _ app.ReceiptBlobs = (*ReceiptBlobs)(nil)

// Put writes what r yields into a new large object, a chunk per statement,
// then records it under id. No transaction stays open while the client
// sends its file (a slow upload would outlast the sessions' idle bound):
// each chunk is a statement of its own, and a read that fails, or a
// context that ends, unlinks the object. (A process that dies mid-upload
// leaves an object no receipt names; operations.md says how to sweep them.)
func (s *ReceiptBlobs) Put(ctx context.Context, id uuid.UUID, r io.Reader) (err error) {
	defer ledger.Wrap(&err, "ReceiptBlobs.Put(%s)", id)
	var blob uint32
	if err := s.pool.QueryRowContext(ctx, `SELECT lo_create(0)`).Scan(&blob); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.pool.ExecContext(context.WithoutCancel(ctx), `SELECT lo_unlink($1)`, blob)
		}
	}()
	chunk := make([]byte, ReceiptChunk)
	var offset int64
	for {
		n, readErr := io.ReadFull(r, chunk)
		if n > 0 {
			if _, err := s.pool.ExecContext(ctx, `SELECT lo_put($1, $2, $3)`, blob, offset, chunk[:n]); err != nil {
				return err
			}
			offset += int64(n)
		}
		if errors.Is(readErr, io.EOF) || errors.Is(readErr, io.ErrUnexpectedEOF) {
			break
		}
		if readErr != nil {
			return readErr
		}
	}
	_, err = s.pool.ExecContext(ctx, `INSERT INTO receipts (id, blob) VALUES ($1, $2)`, id, blob)
	return err
}

// Open reads the bytes stored under id a chunk at a time as they are read.
func (s *ReceiptBlobs) Open(ctx context.Context, id uuid.UUID) (_ io.ReadCloser, err error) {
	defer ledger.Wrap(&err, "ReceiptBlobs.Open(%s)", id)
	var blob uint32
	err = s.pool.QueryRowContext(ctx, `SELECT blob FROM receipts WHERE id = $1`, id).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ledger.Errorf(ledger.ENotFound, "receipt %s has no stored bytes", id)
	}
	if err != nil {
		return nil, err
	}
	return &largeObjectReader{ctx: ctx, pool: s.pool, blob: blob}, nil
}

// Delete removes the row and unlinks its large object.
func (s *ReceiptBlobs) Delete(ctx context.Context, id uuid.UUID) (err error) {
	defer ledger.Wrap(&err, "ReceiptBlobs.Delete(%s)", id)
	_, err = s.pool.ExecContext(ctx, `WITH gone AS (DELETE FROM receipts WHERE id = $1 RETURNING blob) SELECT lo_unlink(blob) FROM gone`, id)
	return err
}

// largeObjectReader reads a large object with lo_get, a chunk per
// statement, each on its own: nothing stays open between reads.
type largeObjectReader struct {
	ctx    context.Context
	pool   *sql.DB
	blob   uint32
	offset int64
	buf    []byte
	eof    bool
}

func (r *largeObjectReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		var chunk []byte
		if err := r.pool.QueryRowContext(r.ctx, `SELECT lo_get($1, $2, $3)`, r.blob, r.offset, ReceiptChunk).Scan(&chunk); err != nil {
			return 0, fmt.Errorf("read large object %d at %d: %w", r.blob, r.offset, err)
		}
		r.offset += int64(len(chunk))
		r.buf, r.eof = chunk, len(chunk) < ReceiptChunk
		if len(chunk) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *largeObjectReader) Close() error {
	r.buf, r.eof = nil, true
	return nil
}
