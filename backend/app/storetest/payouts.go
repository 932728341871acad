package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// payoutsFixture is a bank and an account of it, which the ACH rail's
// files and notifications of change refer to.
type payoutsFixture struct {
	at      time.Time
	bank    ledger.Bank
	account ledger.Account
}

func newPayoutsFixture(t *testing.T, h Harness) payoutsFixture {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 17, 0, 0, 123456000, time.UTC)
	bank := ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield", CreatedAt: at}
	member := ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", CreatedAt: at}
	account := ledger.Account{ID: uuid.New(), BankID: bank.ID, MemberID: member.ID, Currency: "USD", Nickname: "checking", CreatedAt: at}
	must(t, h.Stores.Directory.AddBank(ctx, bank))
	must(t, h.Stores.Directory.AddMember(ctx, member))
	must(t, h.Stores.Directory.AddAccount(ctx, account))
	return payoutsFixture{at: at, bank: bank, account: account}
}

// file is a built file of the fixture's bank created at, with an entry
// for each of traces (of a payment of its own, attempt 1).
func (fx payoutsFixture) file(name string, at time.Time, traces ...string) app.ACHFile {
	f := app.ACHFile{ID: uuid.New(), BankID: fx.bank.ID, Name: name, Content: []byte("101 " + name), State: app.ACHFileBuilt, CreatedAt: at}
	for i, trace := range traces {
		f.Entries = append(f.Entries, app.ACHEntry{TraceNumber: trace, FileID: f.ID, PaymentID: uuid.New(), Attempt: 1,
			AccountID: fx.account.ID, Cents: int64(100 * (i + 1)), SentAt: at})
		f.TotalCents += int64(100 * (i + 1))
	}
	return f
}

// uuidWith is a uuid whose first byte is b, so that tests know how
// PostgreSQL orders it (byte by byte).
func uuidWith(b byte) uuid.UUID {
	id := uuid.New()
	id[0] = b
	return id
}

func sortedEntries(entries []app.ACHEntry) []app.ACHEntry {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(x, y app.ACHEntry) int { return strings.Compare(x.TraceNumber, y.TraceNumber) })
	return entries
}

func wantFiles(t *testing.T, what string, got []app.ACHFile, want ...app.ACHFile) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d files, want %d: %+v", what, len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		g.Entries, w.Entries = sortedEntries(g.Entries), sortedEntries(w.Entries)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: file %d is\n%+v\nwant\n%+v", what, i, g, w)
		}
	}
}

func testPayoutsAccepted(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	at := time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)
	bank := uuid.New()
	// Ordered by accepted_at, then payment id byte by byte, then attempt.
	late := app.AcceptedPayout{PaymentID: uuidWith(0x00), Attempt: 1, BankID: bank, AcceptedAt: at.Add(time.Minute)}
	b2 := app.AcceptedPayout{PaymentID: uuidWith(0xb0), Attempt: 2, BankID: bank, AcceptedAt: at}
	b1 := b2
	b1.Attempt = 1
	a := app.AcceptedPayout{PaymentID: uuidWith(0xa0), Attempt: 3, BankID: uuid.New(), AcceptedAt: at}
	for _, x := range []app.AcceptedPayout{late, b2, a, b1} {
		must(t, p.Accept(ctx, x))
	}
	// Accepting an attempt again changes nothing, whatever else it says.
	again := a
	again.BankID, again.AcceptedAt = uuid.New(), at.Add(-time.Hour)
	must(t, p.Accept(ctx, again))
	want := []app.AcceptedPayout{a, b1, b2, late}
	if got, err := p.Accepted(ctx, 10); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("accepted %+v, %v; want %+v", got, err, want)
	}
	if got, err := p.Accepted(ctx, 2); err != nil || !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("the first 2 accepted %+v, %v", got, err)
	}
	if got, err := p.Accepted(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("none accepted: %+v, %v", got, err)
	}
	must(t, p.Drop(ctx, b1.PaymentID, b1.Attempt))
	must(t, p.Drop(ctx, b1.PaymentID, b1.Attempt)) // dropped already
	must(t, p.Drop(ctx, uuid.New(), 1))            // never accepted
	must(t, p.Drop(ctx, late.PaymentID, 2))        // another attempt of it
	want = []app.AcceptedPayout{a, b2, late}
	if got, err := p.Accepted(ctx, 10); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after a drop: %+v, %v; want %+v", got, err, want)
	}
	// A dropped attempt may be accepted again.
	must(t, p.Accept(ctx, b1))
	if got, err := p.Accepted(ctx, 10); err != nil || len(got) != 4 || got[1] != b1 {
		t.Fatalf("accepted again: %+v, %v", got, err)
	}
}

func testPayoutsTraces(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	reserve := func(odfi string, n, max, want int) {
		t.Helper()
		if first, err := p.ReserveTraces(ctx, odfi, n, max); err != nil || first != want {
			t.Fatalf("%s: reserved %d from %d, %v; want %d", odfi, n, first, err, want)
		}
	}
	conflict := func(odfi string, n, max int) {
		t.Helper()
		_, err := p.ReserveTraces(ctx, odfi, n, max)
		wantCode(t, "a reservation past the last sequence", err, ledger.EConflict)
	}
	// Consecutive, from 1, per ODFI.
	reserve("091000019", 3, 10, 1)
	reserve("091000019", 2, 10, 4)
	reserve("021000021", 1, 10, 1)
	// One that does not fit takes nothing: a smaller one still does.
	conflict("091000019", 6, 10)
	reserve("091000019", 5, 10, 6)
	conflict("091000019", 1, 10)
	reserve("021000021", 9, 10, 2)
	conflict("055003201", 11, 10)
	reserve("055003201", 10, 10, 1)

	// In a transaction, too: one that does not fit takes nothing from the
	// reservations that follow it.
	must(t, h.Stores.Transact(ctx, func(tx app.Tx) error {
		_, err := tx.Payouts.ReserveTraces(ctx, "011000015", 20, 10)
		wantCode(t, "a reservation past the last sequence in a transaction", err, ledger.EConflict)
		if first, err := tx.Payouts.ReserveTraces(ctx, "011000015", 2, 10); err != nil || first != 1 {
			t.Errorf("after a reservation that did not fit: %d, %v", first, err)
		}
		return nil
	}))
	reserve("011000015", 1, 10, 3)

	// A reservation waits for the transaction holding the ODFI's counter,
	// then goes on from where that one left it.
	reserved, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- h.Stores.Transact(ctx, func(tx app.Tx) error {
			first, err := tx.Payouts.ReserveTraces(ctx, "011000015", 4, 100)
			if err == nil && first != 4 {
				err = errors.New("the holder reserved from the wrong sequence")
			}
			close(reserved)
			<-release
			return err
		})
	}()
	<-reserved
	second := make(chan int, 1)
	go func() {
		first, err := p.ReserveTraces(ctx, "011000015", 1, 100)
		if err != nil {
			t.Error(err)
		}
		second <- first
	}()
	close(release)
	must(t, <-held)
	if first := <-second; first != 8 {
		t.Fatalf("a reservation made while another transaction held the counter took %d, want 8", first)
	}
}

func testPayoutsFiles(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	fx := newPayoutsFixture(t, h)
	at := fx.at
	if n, err := p.FilesCreatedSince(ctx, time.Time{}); err != nil || n != 0 {
		t.Fatalf("files of an empty store: %d, %v", n, err)
	}
	if got, err := p.Unpublished(ctx); err != nil || len(got) != 0 {
		t.Fatalf("unpublished of an empty store: %+v, %v", got, err)
	}
	first := fx.file("first.ach", at, "091000010000002", "091000010000001")
	second := fx.file("second.ach", at.Add(time.Minute), "091000010000003")
	empty := fx.file("empty.ach", at.Add(2*time.Minute))
	// Same creation time as first, a larger id: after it.
	tie := fx.file("tie.ach", at, "091000010000004")
	tie.ID = uuidWith(0xff)
	for i := range tie.Entries {
		tie.Entries[i].FileID = tie.ID
	}
	first.ID = uuidWith(0x00)
	for i := range first.Entries {
		first.Entries[i].FileID = first.ID
	}
	for _, f := range []app.ACHFile{second, tie, first, empty} {
		must(t, p.AddFile(ctx, f))
	}
	if n, err := p.FilesCreatedSince(ctx, at.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("files created since the second: %d, %v; want 2 (at or after)", n, err)
	}
	if n, err := p.FilesCreatedSince(ctx, at.Add(-time.Second)); err != nil || n != 4 {
		t.Fatalf("files created since before them all: %d, %v", n, err)
	}
	empty.Entries = nil
	unpublished, err := p.Unpublished(ctx)
	must(t, err)
	wantFiles(t, "unpublished", unpublished, first, tie, second, empty)

	// A trace number or an attempt that is in a file already: the file is
	// not stored, nor any of its entries.
	dupTrace := fx.file("dup-trace.ach", at, "091000010000009", "091000010000003")
	wantCode(t, "a file with a trace number in another file", p.AddFile(ctx, dupTrace), ledger.EConflict)
	dupAttempt := fx.file("dup-attempt.ach", at, "091000010000008")
	dupAttempt.Entries[0].PaymentID, dupAttempt.Entries[0].Attempt = first.Entries[1].PaymentID, first.Entries[1].Attempt
	wantCode(t, "a file with an attempt in another file", p.AddFile(ctx, dupAttempt), ledger.EConflict)
	twice := fx.file("twice.ach", at, "091000010000007", "091000010000007")
	wantCode(t, "a file with a trace number twice", p.AddFile(ctx, twice), ledger.EConflict)
	for _, trace := range []string{"091000010000009", "091000010000008", "091000010000007"} {
		if _, found, err := p.Entry(ctx, trace); err != nil || found {
			t.Fatalf("an entry of a file refused was stored: %v, %v", found, err)
		}
	}
	if n, err := p.FilesCreatedSince(ctx, time.Time{}); err != nil || n != 4 {
		t.Fatalf("files after those refused: %d, %v; want 4", n, err)
	}
	// A file of a bank that does not exist is refused.
	stray := fx.file("stray.ach", at)
	stray.BankID = uuid.New()
	if err := p.AddFile(ctx, stray); err == nil {
		t.Fatal("stored a file of an unknown bank")
	}

	// A published file is no longer listed; a staged one still is.
	must(t, p.SetFileState(ctx, tie.ID, app.ACHFileStaged, at.Add(time.Hour)))
	must(t, p.SetFileState(ctx, second.ID, app.ACHFilePublished, at.Add(time.Hour)))
	must(t, p.SetFileState(ctx, uuid.New(), app.ACHFilePublished, at.Add(time.Hour))) // no such file: nothing
	tie.State = app.ACHFileStaged
	unpublished, err = p.Unpublished(ctx)
	must(t, err)
	wantFiles(t, "unpublished after a file was published", unpublished, first, tie, empty)

	// Entries by trace number.
	e, found, err := p.Entry(ctx, "091000010000003")
	if err != nil || !found || e != second.Entries[0] {
		t.Fatalf("entry %+v, %v, %v; want %+v", e, found, err, second.Entries[0])
	}
	if _, found, err := p.Entry(ctx, "091000019999999"); err != nil || found {
		t.Fatalf("an unknown trace number: %v, %v", found, err)
	}

	// Unsettled: no outcome, sent strictly before, by sent_at then trace.
	unsettled := func(before time.Time, limit int) []string {
		t.Helper()
		entries, err := p.Unsettled(ctx, before, limit)
		must(t, err)
		var traces []string
		for _, e := range entries {
			traces = append(traces, e.TraceNumber)
		}
		return traces
	}
	if got, want := unsettled(at.Add(time.Hour), 10), []string{"091000010000001", "091000010000002", "091000010000004", "091000010000003"}; !slices.Equal(got, want) {
		t.Fatalf("unsettled %v, want %v", got, want)
	}
	if got, want := unsettled(at.Add(time.Minute), 10), []string{"091000010000001", "091000010000002", "091000010000004"}; !slices.Equal(got, want) {
		t.Fatalf("unsettled before the second file %v, want %v", got, want)
	}
	if got, want := unsettled(at.Add(time.Hour), 2), []string{"091000010000001", "091000010000002"}; !slices.Equal(got, want) {
		t.Fatalf("the first 2 unsettled %v, want %v", got, want)
	}
	if got := unsettled(at, 10); len(got) != 0 {
		t.Fatalf("unsettled before any was sent: %v", got)
	}
	must(t, p.SetEntryOutcome(ctx, "091000010000001", app.ACHEntrySettled, at.Add(time.Hour)))
	must(t, p.SetEntryOutcome(ctx, "091000010000004", app.ACHEntryReturned, at.Add(time.Hour)))
	must(t, p.SetEntryOutcome(ctx, "091000019999999", app.ACHEntrySettled, at.Add(time.Hour))) // no such entry: nothing
	if got, want := unsettled(at.Add(time.Hour), 10), []string{"091000010000002", "091000010000003"}; !slices.Equal(got, want) {
		t.Fatalf("unsettled after outcomes %v, want %v", got, want)
	}
	if e, found, err := p.Entry(ctx, "091000010000004"); err != nil || !found || e.Outcome != app.ACHEntryReturned {
		t.Fatalf("a returned entry reads back as %+v, %v, %v", e, found, err)
	}
}

func testPayoutsReturns(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	fx := newPayoutsFixture(t, h)
	at := fx.at
	if seen, err := p.ReturnFileSeen(ctx, "aa"); err != nil || seen {
		t.Fatalf("seen in an empty store: %v, %v", seen, err)
	}
	older := app.ACHReturnFile{SHA256: "bb", Name: "returns-1.ach", ReadAt: at, Returns: 2, Corrections: 1,
		Problems: []string{"trace 091000010000009: no such entry"}}
	newer := app.ACHReturnFile{SHA256: "cc", Name: "returns-2.ach", ReadAt: at.Add(time.Hour), Rejected: true, Error: "truncated"}
	tie := app.ACHReturnFile{SHA256: "aa", Name: "returns-3.ach", ReadAt: at, Returns: 1}
	for _, f := range []app.ACHReturnFile{older, newer, tie} {
		must(t, p.AddReturnFile(ctx, f))
	}
	again := older
	again.Name, again.ReadAt = "renamed.ach", at.Add(2*time.Hour)
	wantCode(t, "a return file read again", p.AddReturnFile(ctx, again), ledger.EConflict)
	if seen, err := p.ReturnFileSeen(ctx, "bb"); err != nil || !seen {
		t.Fatalf("a return file read: seen %v, %v", seen, err)
	}
	files, err := p.ReturnFiles(ctx, 10)
	must(t, err)
	// Newest first, then by content hash; no problems reads as none.
	if len(files) != 3 || files[0].SHA256 != "cc" || files[1].SHA256 != "aa" || files[2].SHA256 != "bb" {
		t.Fatalf("return files %+v", files)
	}
	if got := files[2]; got.Name != older.Name || !got.ReadAt.Equal(at) || got.Returns != 2 || got.Corrections != 1 ||
		!slices.Equal(got.Problems, older.Problems) || got.Rejected {
		t.Fatalf("a return file reads back as %+v, want %+v", got, older)
	}
	if got := files[0]; !got.Rejected || got.Error != "truncated" || len(got.Problems) != 0 {
		t.Fatalf("a rejected return file reads back as %+v", got)
	}
	if files, err := p.ReturnFiles(ctx, 1); err != nil || len(files) != 1 || files[0].SHA256 != "cc" {
		t.Fatalf("the newest return file: %+v, %v", files, err)
	}

	// Notifications of change: once per trace number and code, by account,
	// oldest first.
	c := app.AccountCorrection{AccountID: fx.account.ID, BankID: fx.bank.ID, TraceNumber: "091000010000002", Code: "C01",
		Reason: "incorrect account number", AccountNumberLast4: "6789", ReturnFile: "returns-1.ach", ReceivedAt: at.Add(time.Hour)}
	c02 := c
	c02.Code, c02.Reason, c02.AccountNumberLast4, c02.RoutingNumber = "C02", "incorrect routing number", "", "021000021"
	earlier := c
	earlier.TraceNumber, earlier.ReceivedAt, earlier.AccountType, earlier.Name = "091000010000009", at, "savings", "ADA KING"
	for _, x := range []app.AccountCorrection{c02, c, earlier} {
		must(t, p.AddCorrection(ctx, x))
	}
	repeat := c
	repeat.Reason, repeat.ReceivedAt = "again", at.Add(3*time.Hour)
	must(t, p.AddCorrection(ctx, repeat))
	want := []app.AccountCorrection{earlier, c, c02}
	if got, err := p.Corrections(ctx, fx.account.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("corrections %+v, %v; want %+v", got, err, want)
	}
	if got, err := p.Corrections(ctx, uuid.New()); err != nil || len(got) != 0 {
		t.Fatalf("corrections of another account: %+v, %v", got, err)
	}
	stray := c
	stray.AccountID, stray.TraceNumber = uuid.New(), "091000010000005"
	if err := p.AddCorrection(ctx, stray); err == nil {
		t.Fatal("stored a correction of an unknown account")
	}
}

// A transaction sees its own writes of the ACH rail's state; one that
// fails leaves none of them behind.
func testPayoutsRollback(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	fx := newPayoutsFixture(t, h)
	at := fx.at
	accepted := app.AcceptedPayout{PaymentID: uuid.New(), Attempt: 1, BankID: fx.bank.ID, AcceptedAt: at}
	file := fx.file("rolled-back.ach", at, "091000010000001")
	returns := app.ACHReturnFile{SHA256: "dd", Name: "returns.ach", ReadAt: at}
	correction := app.AccountCorrection{AccountID: fx.account.ID, BankID: fx.bank.ID, TraceNumber: "091000010000001", Code: "C01", ReceivedAt: at}
	// Rows committed before, which the transaction changes.
	kept := app.AcceptedPayout{PaymentID: uuid.New(), Attempt: 2, BankID: fx.bank.ID, AcceptedAt: at.Add(-time.Hour)}
	keptFile := fx.file("kept.ach", at.Add(-time.Hour), "091000010000003")
	must(t, p.Accept(ctx, kept))
	must(t, p.AddFile(ctx, keptFile))
	failed := errors.New("rolled back")
	err := h.Stores.Transact(ctx, func(tx app.Tx) error {
		must(t, tx.Payouts.Drop(ctx, kept.PaymentID, kept.Attempt))
		must(t, tx.Payouts.SetFileState(ctx, keptFile.ID, app.ACHFilePublished, at))
		must(t, tx.Payouts.SetEntryOutcome(ctx, "091000010000003", app.ACHEntryReturned, at))
		must(t, tx.Payouts.Accept(ctx, accepted))
		if first, err := tx.Payouts.ReserveTraces(ctx, "091000019", 5, 100); err != nil || first != 1 {
			t.Errorf("reserved %d, %v", first, err)
		}
		must(t, tx.Payouts.AddFile(ctx, file))
		must(t, tx.Payouts.SetEntryOutcome(ctx, "091000010000001", app.ACHEntrySettled, at))
		must(t, tx.Payouts.SetFileState(ctx, file.ID, app.ACHFileStaged, at))
		must(t, tx.Payouts.AddReturnFile(ctx, returns))
		must(t, tx.Payouts.AddCorrection(ctx, correction))
		// Its own writes, seen in the transaction.
		if got, err := tx.Payouts.Accepted(ctx, 10); err != nil || len(got) != 1 || got[0] != accepted { // kept was dropped
			t.Errorf("accepted in the transaction: %+v, %v", got, err)
		}
		if e, found, err := tx.Payouts.Entry(ctx, "091000010000001"); err != nil || !found || e.Outcome != app.ACHEntrySettled {
			t.Errorf("the entry in the transaction: %+v, %v, %v", e, found, err)
		}
		if files, err := tx.Payouts.Unpublished(ctx); err != nil || len(files) != 1 || files[0].State != app.ACHFileStaged { // kept was published
			t.Errorf("unpublished in the transaction: %+v, %v", files, err)
		}
		if seen, err := tx.Payouts.ReturnFileSeen(ctx, "dd"); err != nil || !seen {
			t.Errorf("the return file in the transaction: %v, %v", seen, err)
		}
		if got, err := tx.Payouts.Corrections(ctx, fx.account.ID); err != nil || len(got) != 1 {
			t.Errorf("corrections in the transaction: %+v, %v", got, err)
		}
		// Not seen outside it before it commits.
		if got, err := p.Accepted(ctx, 10); err != nil || len(got) != 1 || got[0] != kept {
			t.Errorf("another transaction saw the transaction's accept or drop: %+v, %v", got, err)
		}
		if _, found, err := p.Entry(ctx, "091000010000001"); err != nil || found {
			t.Errorf("another transaction saw an uncommitted entry: %v, %v", found, err)
		}
		if e, _, err := p.Entry(ctx, "091000010000003"); err != nil || e.Outcome != app.ACHEntrySent {
			t.Errorf("another transaction saw an uncommitted outcome: %+v, %v", e, err)
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Transact: %v", err)
	}
	assertNoPayouts := func(what string) {
		t.Helper()
		if got, err := p.Accepted(ctx, 10); err != nil || len(got) != 1 || got[0] != kept {
			t.Fatalf("%s: accepted %+v, %v; want only %+v", what, got, err, kept)
		}
		if e, found, err := p.Entry(ctx, "091000010000003"); err != nil || !found || e.Outcome != app.ACHEntrySent {
			t.Fatalf("%s: the entry committed before %+v, %v, %v", what, e, found, err)
		}
		if first, err := p.ReserveTraces(ctx, "091000019", 1, 100); err != nil || first != 1 {
			t.Fatalf("%s: the next trace sequence %d, %v; want 1", what, first, err)
		}
		if _, found, err := p.Entry(ctx, "091000010000001"); err != nil || found {
			t.Fatalf("%s: the entry %v, %v", what, found, err)
		}
		files, err := p.Unpublished(ctx)
		must(t, err)
		wantFiles(t, what+": unpublished", files, keptFile)
		if n, err := p.FilesCreatedSince(ctx, time.Time{}); err != nil || n != 1 {
			t.Fatalf("%s: %d files, %v", what, n, err)
		}
		if seen, err := p.ReturnFileSeen(ctx, "dd"); err != nil || seen {
			t.Fatalf("%s: the return file seen %v, %v", what, seen, err)
		}
		if files, err := p.ReturnFiles(ctx, 10); err != nil || len(files) != 0 {
			t.Fatalf("%s: return files %+v, %v", what, files, err)
		}
		if got, err := p.Corrections(ctx, fx.account.ID); err != nil || len(got) != 0 {
			t.Fatalf("%s: corrections %+v, %v", what, got, err)
		}
	}
	assertNoPayouts("after a rollback")

	// A file refused for a trace number in another file aborts its
	// transaction: carrying on commits nothing of it.
	must(t, p.AddFile(ctx, fx.file("taken.ach", at, "091000010000002")))
	err = h.Stores.Transact(ctx, func(tx app.Tx) error {
		must(t, tx.Payouts.Accept(ctx, accepted))
		wantCode(t, "a file with a trace number in another file", tx.Payouts.AddFile(ctx, fx.file("dup.ach", at, "091000010000002")), ledger.EConflict)
		return nil
	})
	if err == nil {
		t.Fatal("a transaction that ignored its refused file committed")
	}
	if got, err := p.Accepted(ctx, 10); err != nil || len(got) != 1 || got[0] != kept {
		t.Fatalf("the accept of an aborted transaction: %+v, %v", got, err)
	}
}

// Exclusive runs one caller of a name at a time, in any process; callers
// of other names are not held up.
func testPayoutsExclusive(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Stores.Payouts
	other := func(name string) (bool, bool) {
		t.Helper()
		type result struct{ ran, called bool }
		done := make(chan result, 1)
		go func() { // another caller, while the first runs
			called := false
			ran, err := p.Exclusive(ctx, name, func(context.Context) error { called = true; return nil })
			if err != nil {
				t.Error(err)
			}
			done <- result{ran, called}
		}()
		r := <-done
		return r.ran, r.called
	}
	ran, err := p.Exclusive(ctx, "ach.cutoff", func(ctx context.Context) error {
		if ran, called := other("ach.cutoff"); ran || called {
			t.Errorf("a second caller of a running name: ran %v, fn called %v", ran, called)
		}
		if ran, called := other("ach.returns"); !ran || !called {
			t.Errorf("a caller of another name: ran %v, fn called %v", ran, called)
		}
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("the first caller: ran %v, %v", ran, err)
	}
	// Let go once fn returned, even with an error, which Exclusive passes on.
	failed := errors.New("cutoff failed")
	if ran, err := p.Exclusive(ctx, "ach.cutoff", func(context.Context) error { return failed }); !ran || !errors.Is(err, failed) {
		t.Fatalf("once the first returned: ran %v, %v", ran, err)
	}
	if ran, called := other("ach.cutoff"); !ran || !called {
		t.Fatalf("once a failed caller returned: ran %v, fn called %v", ran, called)
	}
}
