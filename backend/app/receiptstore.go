package app

import (
	"context"
	"io"

	"github.com/google/uuid"
)

// ReceiptBlobs stores receipts' bytes, outside the event log.
type ReceiptBlobs interface {
	// Put stores everything read from r under id. It never holds the whole file in memory.
	Put(ctx context.Context, id uuid.UUID, r io.Reader) error
	// Open reads the bytes stored under id; a *ledger.Error with ENotFound when there are none.
	Open(ctx context.Context, id uuid.UUID) (io.ReadCloser, error)
	// Delete removes the bytes stored under id; none stored is not an error.
	Delete(ctx context.Context, id uuid.UUID) error
}
