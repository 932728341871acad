package ledger

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestSniffReceiptJudgesTheFirstBytesOnly(t *testing.T) {
	ftyp := func(brand string) []byte {
		return append([]byte{0, 0, 0, 24, 'f', 't', 'y', 'p'}, []byte(brand+"\x00\x00\x00\x00mif1heic")...)
	}
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), ContentTypePDF},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'}, ContentTypeJPEG},
		{"png", []byte{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 'I', 'H', 'D', 'R'}, ContentTypePNG},
		{"heic", ftyp("heic"), ContentTypeHEIC},
		{"heix", ftyp("heix"), ContentTypeHEIC},
		{"mif1", ftyp("mif1"), ContentTypeHEIC},
		{"msf1", ftyp("msf1"), ContentTypeHEIC},
		{"mp4 is ISO BMFF but not an image", ftyp("isom"), ""},
		{"text named x.pdf", []byte("just some text, named x.pdf"), ""},
		{"pdf marker too late", []byte(" %PDF-1.4"), ""},
		{"png signature cut short", []byte{0x89, 'P', 'N', 'G'}, ""},
		{"gif", []byte("GIF89a"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		got, err := SniffReceipt(tt.head)
		if tt.want == "" {
			if ErrorCode(err) != EUnsupportedType {
				t.Errorf("%s: %q, %v; want EUnsupportedType", tt.name, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

func TestAttachReceipt(t *testing.T) {
	acct := newAccount()
	receipt := Receipt{ID: uuid.New(), SHA256: strings.Repeat("ab", 32), Size: 1234, ContentType: ContentTypePDF}
	r := mustSubmitted(t, acct)
	if _, err := r.AttachReceipt(uuid.New(), receipt, now); ErrorCode(err) != EForbidden {
		t.Fatalf("another member attaches: %v", err)
	}
	e, err := r.AttachReceipt(acct.MemberID, receipt, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, e)
	got, ok := r.Receipt(receipt.ID)
	if !ok || r.ReceiptCount != 1 || got.SHA256 != receipt.SHA256 || got.Size != 1234 || !got.AttachedAt.Equal(now) || r.Status != StatusPending {
		t.Fatalf("folded %+v (%d receipts)", r.Receipts, r.ReceiptCount)
	}
	if _, err := r.AttachReceipt(acct.MemberID, Receipt{ID: uuid.New(), SHA256: receipt.SHA256, Size: 1, ContentType: "text/plain"}, now); ErrorCode(err) != EUnsupportedType {
		t.Fatalf("a text receipt: %v", err)
	}
	w, err := r.Withdraw(acct.MemberID, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, w)
	if _, err := r.AttachReceipt(acct.MemberID, receipt, now); ErrorCode(err) != EConflict {
		t.Fatalf("attach to a withdrawn claim: %v", err)
	}
}

func TestApprovalPolicyMayRequireAReceipt(t *testing.T) {
	acct := newAccount()
	above := "50.00"
	e, err := DecideApprovalPolicy(ApprovalPolicy{}, acct.BankID, PolicyTerms{SecondApprovalAbove: "1000.00", Currency: "USD", ReceiptRequiredAbove: &above}, now)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := FoldApprovalPolicy(acct.BankID, []RecordedEvent{record(t, e)})
	if err != nil || policy.ReceiptRequiredAbove == nil || policy.ReceiptRequiredAbove.String() != "50" {
		t.Fatalf("policy %+v, %v", policy, err)
	}
	admin := Administrator{ID: uuid.New(), BankID: acct.BankID}
	small := submitUnder(t, acct, policy, "50.00")
	if _, err := small.ApproveUnder(policy, admin, "", now); err != nil {
		t.Fatalf("50.00 is not above the rule: %v", err)
	}
	big := submitUnder(t, acct, policy, "50.01")
	_, err = big.ApproveUnder(policy, admin, "", now)
	if ErrorCode(err) != EConflict || !strings.Contains(err.Error(), "the bank's approval policy requires a receipt above 50.00 USD") {
		t.Fatalf("approve without a receipt: %v", err)
	}
	attached, err := big.AttachReceipt(acct.MemberID, Receipt{ID: uuid.New(), SHA256: strings.Repeat("0", 64), Size: 9, ContentType: ContentTypePNG}, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, big, attached)
	if _, err := big.ApproveUnder(policy, admin, "", now); err != nil {
		t.Fatalf("approve with a receipt: %v", err)
	}
	if _, err := DecideApprovalPolicy(ApprovalPolicy{}, acct.BankID, PolicyTerms{SecondApprovalAbove: "1", Currency: "USD", ReceiptRequiredAbove: new(string)}, now); fieldsOf(err)["receipt_required_above"] == "" {
		t.Fatalf("an empty receipt amount: %v", err)
	}
}

// An approval policy recorded before receipts reads as one that requires
// none; one written now carries its schema version.
func TestApprovalPolicySetVersion1ReadsWithoutAReceiptRule(t *testing.T) {
	e, err := DecodeEvent(TypeApprovalPolicySet, []byte(`{"bank_id":"`+uuid.NewString()+`","second_approval_above":"10.00","currency":"USD","set_at":"2026-01-02T03:04:05Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if set := e.(ApprovalPolicySet); set.ReceiptRequiredAbove != nil || set.SecondApprovalAbove.String() != "10.00" {
		t.Fatalf("%+v", set)
	}
	data, err := json.Marshal(e)
	if err != nil || !strings.HasPrefix(string(data), `{"schema_version":2,`) || !strings.Contains(string(data), `"receipt_required_above":null`) {
		t.Fatalf("%s, %v", data, err)
	}
}
