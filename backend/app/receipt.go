package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DefaultReceiptMaxBytes is the largest receipt accepted unless configured:
// 10 MiB holds a phone's photo of a receipt or a scanned invoice.
const DefaultReceiptMaxBytes = 10 << 20

// ReceiptMaxBytes is the largest receipt the ledger accepts, so the API can
// stop reading an upload soon after it.
func (a *App) ReceiptMaxBytes() int64 { return a.receiptMax }

// receiptReader reads an upload once: it counts and hashes what passes and
// fails with ETooLarge as soon as more than max bytes have come, so that
// nothing larger is ever stored.
type receiptReader struct {
	r    io.Reader
	max  int64
	n    int64
	hash hash.Hash
}

func (rr *receiptReader) Read(p []byte) (int, error) {
	if rr.n > rr.max {
		return 0, rr.tooLarge()
	}
	// Read at most one byte past the limit: that byte is the proof.
	if room := rr.max + 1 - rr.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	rr.hash.Write(p[:n])
	if rr.n > rr.max {
		return n, rr.tooLarge()
	}
	return n, err
}

func (rr *receiptReader) tooLarge() error {
	return ledger.Errorf(ledger.ETooLarge, "a receipt must be at most %d bytes", rr.max)
}

// AttachReceipt stores a receipt read from body and records it on the
// member p's pending claim (ReceiptAttached). The type is judged from the
// first bytes (ledger.SniffReceipt), before anything is stored; the bytes
// are streamed into the blob store, counted and hashed on the way, and the
// event is appended after they are stored. Nothing is left stored when it
// fails. Errors: EForbidden (not a member), ENotFound (not p's claim),
// EConflict (not pending), EUnsupportedType, ETooLarge (more than
// ReceiptMaxBytes), and whatever body's reading returns.
func (a *App) AttachReceipt(ctx context.Context, p Principal, reimbursementID uuid.UUID, body io.Reader, meta ledger.Metadata) (receipt ledger.Receipt, err error) {
	defer ledger.Wrap(&err, "AttachReceipt(%s)", reimbursementID)
	if err := p.must(RoleMember); err != nil {
		return ledger.Receipt{}, err
	}
	// Refuse what the claim would refuse before reading the upload.
	r, err := a.streams().Reimbursement(ctx, reimbursementID)
	if err != nil {
		return ledger.Receipt{}, err
	}
	if r.MemberID != p.ID {
		return ledger.Receipt{}, notFound(reimbursementID)
	}
	if r.Status != ledger.StatusPending {
		return ledger.Receipt{}, ledger.Errorf(ledger.EConflict, "reimbursement %s is already %s: receipts are attached while it is pending", r.ID, r.Status)
	}

	counted := &receiptReader{r: body, max: a.receiptMax, hash: sha256.New()}
	buffered := bufio.NewReaderSize(counted, ledger.SniffLength)
	head, err := buffered.Peek(ledger.SniffLength)
	if err != nil && !errors.Is(err, io.EOF) {
		return ledger.Receipt{}, err
	}
	contentType, err := ledger.SniffReceipt(head)
	if err != nil {
		return ledger.Receipt{}, err
	}
	receipt = ledger.Receipt{ID: uuid.New(), ContentType: contentType}
	// Whatever fails from here, the blob goes: also when ctx is done.
	cleanup := func() { _ = a.stores.Receipts.Delete(context.WithoutCancel(ctx), receipt.ID) }
	if err := a.stores.Receipts.Put(ctx, receipt.ID, buffered); err != nil {
		cleanup()
		return ledger.Receipt{}, err
	}
	if counted.n > counted.max {
		// A store that stopped reading at the error may not say so.
		cleanup()
		return ledger.Receipt{}, counted.tooLarge()
	}
	receipt.Size, receipt.SHA256 = counted.n, hex.EncodeToString(counted.hash.Sum(nil))
	_, err = a.onReimbursement(ctx, p, reimbursementID, nil, meta, func(_ Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error) {
		return r.AttachReceipt(p.ID, receipt, a.now())
	})
	if err != nil {
		cleanup()
		return ledger.Receipt{}, err
	}
	return a.receiptOf(ctx, p, reimbursementID, receipt.ID)
}

// receiptOf returns one receipt of a claim p may read.
func (a *App) receiptOf(ctx context.Context, p Principal, reimbursementID, receiptID uuid.UUID) (ledger.Receipt, error) {
	receipts, err := a.Receipts(ctx, p, reimbursementID)
	if err != nil {
		return ledger.Receipt{}, err
	}
	for _, rc := range receipts {
		if rc.ID == receiptID {
			return rc, nil
		}
	}
	return ledger.Receipt{}, ledger.Errorf(ledger.ENotFound, "receipt %s not found", receiptID)
}

// Receipts lists a claim's receipts, oldest first, to its member and its
// bank's administrators; ENotFound for anyone else, as for no such claim.
func (a *App) Receipts(ctx context.Context, p Principal, reimbursementID uuid.UUID) (_ []ledger.Receipt, err error) {
	defer ledger.Wrap(&err, "Receipts(%s)", reimbursementID)
	if err := p.must(RoleMember, RoleAdministrator); err != nil {
		return nil, err
	}
	r, err := a.streams().Reimbursement(ctx, reimbursementID)
	if err != nil {
		return nil, err
	}
	if !p.sees(r) {
		return nil, notFound(reimbursementID)
	}
	return append([]ledger.Receipt{}, r.Receipts...), nil
}

// OpenReceipt returns one receipt of a claim and its bytes, to those who
// may list the claim's receipts; ENotFound for anyone else and for a
// receipt the claim does not have. The caller closes the reader.
func (a *App) OpenReceipt(ctx context.Context, p Principal, reimbursementID, receiptID uuid.UUID) (_ ledger.Receipt, _ io.ReadCloser, err error) {
	defer ledger.Wrap(&err, "OpenReceipt(%s, %s)", reimbursementID, receiptID)
	receipt, err := a.receiptOf(ctx, p, reimbursementID, receiptID)
	if err != nil {
		return ledger.Receipt{}, nil, err
	}
	body, err := a.stores.Receipts.Open(ctx, receiptID)
	if err != nil {
		return ledger.Receipt{}, nil, err
	}
	return receipt, body, nil
}

// verifyReceipts re-hashes the stored bytes of every receipt recorded and
// returns the first whose bytes are missing or no longer match their event,
// as a problem at its event naming the receipt and its claim; nil when all
// match.
func (a *App) verifyReceipts(ctx context.Context) (*audit.Problem, error) {
	// An erased member's receipts were deleted on purpose: their hashes
	// stay in the events, their bytes are meant to be gone.
	erased := map[uuid.UUID]bool{}
	for q := (FeedQuery{Types: []string{ledger.TypePersonalDataErased}, Limit: 500}); ; {
		page, err := a.stores.Feed.Feed(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, rec := range page {
			e, err := rec.Decode()
			if err != nil {
				return nil, err
			}
			erased[e.(ledger.PersonalDataErased).BankMemberID] = true
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].Position
	}
	q := FeedQuery{Types: []string{ledger.TypeReceiptAttached}, Limit: 500}
	for {
		page, err := a.stores.Feed.Feed(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, rec := range page {
			e, err := rec.Decode()
			if err != nil {
				return nil, err
			}
			attached, ok := e.(ledger.ReceiptAttached)
			if !ok || erased[attached.BankMemberID] {
				continue
			}
			if detail, err := a.checkReceipt(ctx, attached); err != nil {
				return nil, err
			} else if detail != "" {
				return &audit.Problem{Position: rec.Position, StreamID: rec.StreamID, Detail: detail}, nil
			}
		}
		if len(page) < q.Limit {
			return nil, nil
		}
		q.After = page[len(page)-1].Position
	}
}

// checkReceipt re-hashes one receipt's stored bytes: "" when they are its
// event's, otherwise what is wrong.
func (a *App) checkReceipt(ctx context.Context, e ledger.ReceiptAttached) (string, error) {
	body, err := a.stores.Receipts.Open(ctx, e.ReceiptID)
	if ledger.ErrorCode(err) == ledger.ENotFound {
		return fmt.Sprintf("receipt %s of reimbursement %s has no stored bytes", e.ReceiptID, e.ReimbursementID), nil
	}
	if err != nil {
		return "", err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 || n != e.Size {
		return fmt.Sprintf("the stored bytes of receipt %s of reimbursement %s do not match its ReceiptAttached event: %d bytes with SHA-256 %s, recorded %d bytes with SHA-256 %s",
			e.ReceiptID, e.ReimbursementID, n, sum, e.Size, e.SHA256), nil
	}
	return "", nil
}
