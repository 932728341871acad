package inmem

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ReceiptBlobs keeps receipts' bytes in memory. Unlike PostgreSQL's large
// objects they are outside any transaction, as an object store's are: a
// Put is seen at once, whatever happens to the event that records it.
type ReceiptBlobs struct {
	mu    sync.Mutex
	blobs map[uuid.UUID][]byte
}

var _ app.ReceiptBlobs = (*ReceiptBlobs)(nil)

// Put stores what r yields under id once r is read to its end; a failed
// read stores nothing.
func (s *ReceiptBlobs) Put(ctx context.Context, id uuid.UUID, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blobs == nil {
		s.blobs = map[uuid.UUID][]byte{}
	}
	s.blobs[id] = data
	return nil
}

// Open reads the bytes stored under id; ENotFound when there are none.
func (s *ReceiptBlobs) Open(ctx context.Context, id uuid.UUID) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.blobs[id]
	if !ok {
		return nil, ledger.Errorf(ledger.ENotFound, "receipt %s has no stored bytes", id)
	}
	return io.NopCloser(bytes.NewReader(data)), ctx.Err()
}

// Delete removes the bytes stored under id, if any.
func (s *ReceiptBlobs) Delete(ctx context.Context, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobs, id)
	return ctx.Err()
}

// Len returns how many receipts have bytes stored, for tests that check
// nothing was left behind.
func (s *ReceiptBlobs) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs)
}
