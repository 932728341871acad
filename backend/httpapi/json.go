package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// The API's JSON shapes. Ids are UUID strings, amounts decimal strings with
// the currency's decimal places, times RFC 3339 in UTC.

type bankJSON struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Location  string    `json:"location"`
	CreatedAt time.Time `json:"created_at"`
}

func bankOut(b ledger.Bank) bankJSON {
	return bankJSON{ID: b.ID, Name: b.Name, Location: b.Location, CreatedAt: b.CreatedAt}
}

type memberJSON struct {
	ID        uuid.UUID `json:"id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	// ErasedAt is when the member's personal data was erased; null while
	// it was not.
	ErasedAt *time.Time `json:"erased_at"`
}

func memberOut(m ledger.Member) memberJSON {
	return memberJSON{ID: m.ID, FirstName: m.FirstName, LastName: m.LastName, Email: m.Email, CreatedAt: m.CreatedAt, ErasedAt: m.ErasedAt}
}

// erasureJSON is a member's personal data erased.
type erasureJSON struct {
	MemberID        uuid.UUID `json:"member_id"`
	ErasedBy        string    `json:"erased_by"`
	Reason          string    `json:"reason"`
	ReceiptsDeleted int       `json:"receipts_deleted"`
	ErasedAt        time.Time `json:"erased_at"`
}

func erasureOut(e app.Erasure) erasureJSON {
	return erasureJSON{MemberID: e.MemberID, ErasedBy: e.ErasedBy, Reason: e.Reason, ReceiptsDeleted: e.ReceiptsDeleted, ErasedAt: e.ErasedAt}
}

// personalDataJSON is everything the ledger holds about a member.
type personalDataJSON struct {
	Member   memberJSON          `json:"member"`
	Accounts []accountJSON       `json:"accounts"`
	Claims   []personalClaimJSON `json:"reimbursements"`
	Erasure  *erasureJSON        `json:"erasure"`
	AsOf     time.Time           `json:"as_of"`
}

// personalClaimJSON is one of a member's claims with its story.
type personalClaimJSON struct {
	Reimbursement wire.Reimbursement `json:"reimbursement"`
	Events        []eventJSON        `json:"events"`
}

func personalDataOut(c app.PersonalDataCopy) personalDataJSON {
	out := personalDataJSON{Member: memberOut(c.Member), Accounts: make([]accountJSON, len(c.Accounts)),
		Claims: make([]personalClaimJSON, len(c.Claims)), AsOf: c.CreatedAt}
	for i, a := range c.Accounts {
		out.Accounts[i] = accountOut(a)
	}
	for i, claim := range c.Claims {
		story := c.Stories[claim.ID]
		events := make([]eventJSON, len(story))
		for j, e := range story {
			events[j] = eventOut(e)
			events[j].Position = nil
		}
		out.Claims[i] = personalClaimJSON{Reimbursement: wire.NewClaim(claim.Reimbursement, claim.Sequence), Events: events}
	}
	if c.Erasure != nil {
		e := erasureOut(*c.Erasure)
		out.Erasure = &e
	}
	return out
}

type administratorJSON struct {
	ID        uuid.UUID `json:"id"`
	BankID    uuid.UUID `json:"bank_id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

func administratorOut(a ledger.Administrator) administratorJSON {
	return administratorJSON{ID: a.ID, BankID: a.BankID, FirstName: a.FirstName, LastName: a.LastName, Email: a.Email, CreatedAt: a.CreatedAt}
}

type accountJSON struct {
	ID           uuid.UUID `json:"id"`
	BankID       uuid.UUID `json:"bank_id"`
	BankMemberID uuid.UUID `json:"bank_member_id"`
	Currency     string    `json:"currency"`
	Nickname     string    `json:"nickname"`
	CreatedAt    time.Time `json:"created_at"`
	// The bank details that may be shown; null when the account has none.
	// The account number itself is never answered.
	RoutingNumber      *string `json:"routing_number"`
	AccountType        *string `json:"account_type"`
	AccountNumberLast4 *string `json:"account_number_last4"`
}

func accountOut(a ledger.Account) accountJSON {
	out := accountJSON{ID: a.ID, BankID: a.BankID, BankMemberID: a.MemberID, Currency: a.Currency, Nickname: a.Nickname, CreatedAt: a.CreatedAt}
	if a.RoutingNumber != "" {
		out.RoutingNumber, out.AccountType, out.AccountNumberLast4 = &a.RoutingNumber, &a.AccountType, &a.AccountNumberLast4
	}
	return out
}

// correctionJSON is a notification of change the member's bank sent about
// an account; the corrected fields it did not send are null.
type correctionJSON struct {
	TraceNumber        string    `json:"trace_number"`
	Code               string    `json:"code"`
	Reason             string    `json:"reason"`
	RoutingNumber      *string   `json:"routing_number"`
	AccountNumberLast4 *string   `json:"account_number_last4"`
	AccountType        *string   `json:"account_type"`
	Name               *string   `json:"name"`
	ReturnFile         string    `json:"return_file"`
	ReceivedAt         time.Time `json:"received_at"`
}

func correctionOut(c app.AccountCorrection) correctionJSON {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return correctionJSON{TraceNumber: c.TraceNumber, Code: c.Code, Reason: c.Reason, RoutingNumber: opt(c.RoutingNumber),
		AccountNumberLast4: opt(c.AccountNumberLast4), AccountType: opt(c.AccountType), Name: opt(c.Name),
		ReturnFile: c.ReturnFile, ReceivedAt: c.ReceivedAt}
}

// approvalPolicyJSON is a bank's approval policy; its fields are null while
// the bank has set none (one approval decides any amount).
type approvalPolicyJSON struct {
	BankID              uuid.UUID  `json:"bank_id"`
	SecondApprovalAbove *string    `json:"second_approval_above"`
	Currency            *string    `json:"currency"`
	SetAt               *time.Time `json:"set_at"`
	SetBy               *string    `json:"set_by"`
	Version             int64      `json:"version"`
	// ReceiptRequiredAbove is null when the policy requires no receipt.
	ReceiptRequiredAbove *string `json:"receipt_required_above"`
}

func approvalPolicyOut(p ledger.ApprovalPolicy) approvalPolicyJSON {
	out := approvalPolicyJSON{BankID: p.BankID, Version: p.Version}
	if p.IsSet() {
		above := ledger.FormatAmount(p.SecondApprovalAbove, p.Currency)
		out.SecondApprovalAbove, out.Currency, out.SetAt, out.SetBy = &above, &p.Currency, &p.SetAt, &p.SetBy
		if p.ReceiptRequiredAbove != nil {
			receipts := ledger.FormatAmount(*p.ReceiptRequiredAbove, p.Currency)
			out.ReceiptRequiredAbove = &receipts
		}
	}
	return out
}

type eventJSON struct {
	// Position is left out of what members and administrators read: the
	// global position would tell them how many events the ledger holds.
	Position      *int64          `json:"position,omitempty"`
	EventID       uuid.UUID       `json:"event_id"`
	StreamID      uuid.UUID       `json:"stream_id"`
	StreamType    string          `json:"stream_type"`
	StreamVersion int64           `json:"stream_version"`
	Type          string          `json:"type"`
	Data          json.RawMessage `json:"data"`
	Metadata      ledger.Metadata `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Hash          string          `json:"hash"`
	PrevHash      *string         `json:"prev_hash"`
}

// EventJSON is an event as the API and the command line show it.
func EventJSON(e ledger.RecordedEvent) any { return eventOut(e) }

func eventOut(e ledger.RecordedEvent) eventJSON {
	position := e.Position
	out := eventJSON{Position: &position, EventID: e.EventID, StreamID: e.StreamID, StreamType: e.StreamType,
		StreamVersion: e.StreamVersion, Type: e.Type, Data: e.Data, Metadata: e.Metadata, RecordedAt: e.RecordedAt,
		Hash: hex.EncodeToString(e.Hash)}
	if e.PrevHash != nil {
		prev := hex.EncodeToString(e.PrevHash)
		out.PrevHash = &prev
	}
	return out
}

// list is the envelope of every list answer.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// Cursors are opaque to clients: base64url of a versioned prefix, then the
// time (in microseconds, as stored) and id of the previous page's last
// item, the key its list is ordered by (creation time for the directory and
// the delivery log, submission time for the reimbursement lists). Each kind
// of list has its prefix: a reimbursement list's cursor is refused by a
// directory list or the delivery log, and each of theirs by the others.
// (r1: is the reimbursement lists' key; their former cursors, v1:, held an
// event position and are refused.)
const (
	reimbursementCursorPrefix = "r1:"
	directoryCursorPrefix     = "d1:"
	deliveryCursorPrefix      = "w1:"
)

func encodeKey(prefix string, k app.PageKey) *string {
	if k.IsZero() {
		return nil
	}
	c := base64.RawURLEncoding.EncodeToString([]byte(prefix + strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + ":" + k.ID.String()))
	return &c
}

// decodeKey returns the key a cursor of the prefix's lists holds; ok is
// false for anything the API did not hand out for them.
func decodeKey(prefix, cursor string) (k app.PageKey, ok bool) {
	if len(cursor) > 128 {
		return app.PageKey{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return app.PageKey{}, false
	}
	micros, id, found := strings.Cut(strings.TrimPrefix(string(raw), prefix), ":")
	if !found || micros == "" || strings.Trim(micros, "0123456789") != "" || len(id) != 36 {
		return app.PageKey{}, false
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return app.PageKey{}, false
	}
	parsed, err := uuid.Parse(id)
	if err != nil {
		return app.PageKey{}, false
	}
	return app.PageKey{CreatedAt: time.UnixMicro(n).UTC(), ID: parsed}, true
}
