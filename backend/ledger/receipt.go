package ledger

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Receipt content types: the only ones a receipt may be, judged from its
// first bytes (SniffReceipt), never from its name or the type its sender
// claims.
const (
	ContentTypePDF  = "application/pdf"
	ContentTypeJPEG = "image/jpeg"
	ContentTypePNG  = "image/png"
	ContentTypeHEIC = "image/heic"
)

// ReceiptContentTypes lists the types a receipt may be.
var ReceiptContentTypes = []string{ContentTypePDF, ContentTypeJPEG, ContentTypePNG, ContentTypeHEIC}

// ReceiptExtension returns the file name extension of a receipt type.
func ReceiptExtension(contentType string) string {
	switch contentType {
	case ContentTypePDF:
		return "pdf"
	case ContentTypeJPEG:
		return "jpg"
	case ContentTypePNG:
		return "png"
	case ContentTypeHEIC:
		return "heic"
	}
	return "bin"
}

// SniffLength is how many first bytes SniffReceipt needs at most.
const SniffLength = 512

// heifBrands are the major brands of an ISO BMFF ftyp box that make a file
// HEIC/HEIF (ISO/IEC 23008-12): images and image sequences, HEVC coded or
// not.
var heifBrands = []string{"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"}

// SniffReceipt judges a receipt's type from its first bytes alone: a PDF
// (%PDF-), a JPEG (FF D8 FF), a PNG (its 8-byte signature) or a HEIC image
// (an ftyp box at offset 4 whose major brand is a HEIF one). Anything else
// is EUnsupportedType.
func SniffReceipt(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return ContentTypePDF, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return ContentTypeJPEG, nil
	case bytes.HasPrefix(head, []byte{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}):
		return ContentTypePNG, nil
	case len(head) >= 12 && string(head[4:8]) == "ftyp" && slices.Contains(heifBrands, string(head[8:12])):
		return ContentTypeHEIC, nil
	}
	return "", Errorf(EUnsupportedType, "a receipt must be a PDF, JPEG, PNG or HEIC file, judged by its content; this one is none of them")
}

// Receipt is a receipt attached to a reimbursement: the bytes are stored
// elsewhere, under ID; these are what prove them.
type Receipt struct {
	ID          uuid.UUID
	SHA256      string
	Size        int64
	ContentType string
	AttachedAt  time.Time
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// AttachReceipt decides that the member attaches a receipt, already stored
// and judged: only the member who submitted the claim (EForbidden), only
// while it is pending (EConflict).
func (r *Reimbursement) AttachReceipt(memberID uuid.UUID, receipt Receipt, now time.Time) (PendingEvent, error) {
	if memberID != r.MemberID {
		return PendingEvent{}, Errorf(EForbidden, "member %s did not submit reimbursement %s", memberID, r.ID)
	}
	if r.Status != StatusPending {
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is already %s: receipts are attached while it is pending", r.ID, r.Status)
	}
	if !slices.Contains(ReceiptContentTypes, receipt.ContentType) {
		return PendingEvent{}, Errorf(EUnsupportedType, "a receipt may not be %q", receipt.ContentType)
	}
	if !sha256Hex.MatchString(receipt.SHA256) || receipt.Size <= 0 || receipt.ID == uuid.Nil {
		return PendingEvent{}, fmt.Errorf("receipt %s: a SHA-256 in hex, a size and an id are required", receipt.ID)
	}
	return r.next(ReceiptAttached{ReceiptID: receipt.ID, ReimbursementID: r.ID, BankMemberID: r.MemberID, SHA256: receipt.SHA256,
		Size: receipt.Size, ContentType: receipt.ContentType, AttachedAt: now.UTC()}), nil
}

// Receipt returns the claim's receipt with the id; false when it has none.
func (r *Reimbursement) Receipt(id uuid.UUID) (Receipt, bool) {
	for _, rc := range r.Receipts {
		if rc.ID == id {
			return rc, true
		}
	}
	return Receipt{}, false
}

// checkReceiptRule refuses an approval that the policy's receipt rule
// forbids: a claim above its amount (or in another currency, which cannot
// be compared with it) with no receipt.
func (p ApprovalPolicy) checkReceiptRule(r *Reimbursement) error {
	if !p.IsSet() || p.ReceiptRequiredAbove == nil || r.ReceiptCount > 0 {
		return nil
	}
	if r.Currency == p.Currency && !r.Amount.GreaterThan(*p.ReceiptRequiredAbove) {
		return nil
	}
	return Errorf(EConflict, "the bank's approval policy requires a receipt above %s %s: reimbursement %s has none",
		FormatAmount(*p.ReceiptRequiredAbove, p.Currency), p.Currency, r.ID)
}
