package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AuditLog builds the Merkle tree over the commit order and signs its
// heads, serves proofs, and verifies the log against the heads and the HMAC
// checkpoints recorded before them.
type AuditLog struct {
	pool *sql.DB
	now  func() time.Time
	// tree is the tree as this process last appended to it, kept between
	// batches so that a batch costs one statement. It may be stale (a
	// batch that rolled back, another worker that took over): the append
	// then writes nothing, and the tree is read again.
	tree atomic.Pointer[treeState]
}

// treeState is what appending to the tree needs: its size, the hashes of
// the perfect subtrees covering it (audit.FrontierIndexes), and the commit
// order of its last leaf.
type treeState struct {
	size     int64
	frontier []tlog.Hash
	lastTx   uint64
	lastPos  int64
}

var _ app.AuditLog = (*AuditLog)(nil)

// auditTree is the tree bound to a transaction (app.Tx.AuditTree).
type auditTree struct {
	log *AuditLog
	tx  Querier
}

var _ app.AuditTree = auditTree{}

func (t auditTree) AppendLeaves(ctx context.Context, signer *audit.Signer, events []ledger.RecordedEvent) error {
	return t.log.append(ctx, t.tx, signer, events)
}

// append adds the events, delivered in commit order, as leaves of the tree
// and stores the tree's head signed by signer, all in tx (the audit.tree
// subscriber's batch transaction), so the leaves, the head and the
// subscriber's position commit together: one signed head per batch.
// Events already leaves are skipped, which makes redelivery harmless. The
// statement names the size of the tree it extends and writes nothing
// unless that is still the stored tree's size, so a stale copy in memory is
// read again instead of being extended.
func (l *AuditLog) append(ctx context.Context, tx Querier, signer *audit.Signer, events []ledger.RecordedEvent) (err error) {
	defer ledger.Wrap(&err, "AuditLog.Append")
	if err := completeEvents(ctx, tx, events); err != nil {
		return err
	}
	st, reloaded := l.tree.Load(), false
	for {
		if st == nil || reloaded {
			if st, err = loadTree(ctx, tx); err != nil {
				return err
			}
		}
		pending := events
		for len(pending) > 0 && st.size > 0 && (st.lastTx > pending[0].TransactionID ||
			(st.lastTx == pending[0].TransactionID && st.lastPos >= pending[0].Position)) {
			pending = pending[1:]
		}
		if len(pending) < len(events) && !reloaded {
			reloaded = true // only the stored tree can say an event is a leaf
			continue
		}
		if len(pending) == 0 {
			return nil
		}
		next, stored, err := l.store(ctx, tx, signer, st, pending)
		if err != nil {
			l.tree.Store(nil)
			return err
		}
		if !stored {
			if reloaded {
				l.tree.Store(nil)
				return fmt.Errorf("the tree changed while %d leaves were added to it", len(pending))
			}
			reloaded = true
			continue
		}
		l.tree.Store(next)
		return nil
	}
}

// store appends the events to the tree st and signs its head, in one
// statement that writes nothing unless st is the stored tree.
func (l *AuditLog) store(ctx context.Context, tx Querier, signer *audit.Signer, st *treeState, events []ledger.RecordedEvent) (*treeState, bool, error) {
	leaves := make([]tlog.Hash, len(events))
	for i, e := range events {
		leaves[i] = audit.LeafHash(e.Hash)
	}
	appended, err := audit.Append(st.size, st.frontier, leaves)
	if err != nil {
		return nil, false, err
	}
	size := st.size + int64(len(leaves))
	head, err := signer.Sign(size, appended.Root, l.now())
	if err != nil {
		return nil, false, err
	}
	indexes, positions, stored := make([]int64, len(leaves)), make([]int64, len(leaves)), make([][]byte, len(leaves))
	for i, hashes := range appended.Stored {
		indexes[i], positions[i] = st.size+int64(i), events[i].Position
		b := make([]byte, 0, len(hashes)*audit.HashSize)
		for _, h := range hashes {
			b = append(b, h[:]...)
		}
		stored[i] = b
	}
	var n int
	err = tx.QueryRowContext(ctx, `
		WITH guard AS (SELECT coalesce(max(leaf_index), -1) = $8 - 1 AS current FROM audit_tree),
		leaves AS (
			INSERT INTO audit_tree (leaf_index, position, hashes)
			SELECT u.* FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) AS u, guard WHERE guard.current
			RETURNING 1),
		head AS (
			INSERT INTO audit_heads (tree_size, root_hash, note, recorded_at)
			SELECT $4, $5, $6, $7 FROM guard WHERE guard.current
			RETURNING 1)
		SELECT (SELECT count(*) FROM leaves) + (SELECT count(*) FROM head)`,
		pq.Array(indexes), pq.Array(positions), pq.Array(stored),
		head.TreeSize, head.RootHash[:], string(head.Note), head.Timestamp, st.size).Scan(&n)
	if err != nil {
		return nil, false, fmt.Errorf("store leaves %d to %d and their head: %w", st.size, size-1, err)
	}
	last := events[len(events)-1]
	return &treeState{size: size, frontier: appended.Frontier, lastTx: last.TransactionID, lastPos: last.Position}, n > 0, nil
}

// completeEvents reads the transaction id and hash of events delivered
// without them.
func completeEvents(ctx context.Context, tx Querier, events []ledger.RecordedEvent) error {
	var missing []int64
	for _, e := range events {
		if e.TransactionID == 0 || len(e.Hash) == 0 {
			missing = append(missing, e.Position)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT position, transaction_id::text, hash FROM events WHERE position = ANY ($1::bigint[])`, pq.Array(missing))
	if err != nil {
		return err
	}
	defer rows.Close()
	found := map[int64]ledger.RecordedEvent{}
	for rows.Next() {
		var e ledger.RecordedEvent
		if err := rows.Scan(&e.Position, &e.TransactionID, &e.Hash); err != nil {
			return err
		}
		found[e.Position] = e
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, e := range events {
		if e.TransactionID == 0 || len(e.Hash) == 0 {
			f, ok := found[e.Position]
			if !ok {
				return fmt.Errorf("event %d is not stored", e.Position)
			}
			events[i].TransactionID, events[i].Hash = f.TransactionID, f.Hash
		}
	}
	return nil
}

// loadTree reads the stored tree's state.
func loadTree(ctx context.Context, q querier) (*treeState, error) {
	st := &treeState{}
	err := q.QueryRowContext(ctx, `
		SELECT t.leaf_index + 1, t.position, e.transaction_id::text
		FROM audit_tree t JOIN events e ON e.position = t.position
		ORDER BY t.leaf_index DESC LIMIT 1`).Scan(&st.size, &st.lastPos, &st.lastTx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	if st.frontier, err = readHashes(ctx, q, audit.FrontierIndexes(st.size)); err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	return st, nil
}

// readHashes reads stored hashes by index (tlog's layout): each is kept with
// the leaf that completed its subtree.
func readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	leaves := make([]int64, len(indexes))
	for i, idx := range indexes {
		leaves[i], _ = audit.StoredAt(idx)
	}
	rows, err := q.QueryContext(ctx, `SELECT leaf_index, hashes FROM audit_tree WHERE leaf_index = ANY ($1::bigint[])`, pq.Array(leaves))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make(map[int64][]byte, len(leaves))
	for rows.Next() {
		var leaf int64
		var b []byte
		if err := rows.Scan(&leaf, &b); err != nil {
			return nil, err
		}
		stored[leaf] = b
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		leaf, offset := audit.StoredAt(idx)
		b := stored[leaf]
		if len(b) < (offset+1)*audit.HashSize {
			return nil, fmt.Errorf("stored hash %d (leaf %d) is missing: the tree is incomplete", idx, leaf)
		}
		copy(out[i][:], b[offset*audit.HashSize:])
	}
	return out, nil
}

// hashReader reads stored hashes for tlog's proofs.
func hashReader(ctx context.Context, q querier) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) { return readHashes(ctx, q, indexes) })
}

const headColumns = `tree_size, root_hash, note, recorded_at`

func scanHead(row interface{ Scan(...any) error }) (audit.Head, error) {
	var h audit.Head
	var root []byte
	var note string
	if err := row.Scan(&h.TreeSize, &root, &note, &h.Timestamp); err != nil {
		return h, err
	}
	copy(h.RootHash[:], root)
	h.Note, h.Timestamp = []byte(note), h.Timestamp.UTC()
	return h, nil
}

// Heads lists signed heads by increasing tree size, after size after.
func (l *AuditLog) Heads(ctx context.Context, after int64, limit int) (_ []audit.Head, err error) {
	defer ledger.Wrap(&err, "AuditLog.Heads")
	rows, err := l.pool.QueryContext(ctx, `SELECT `+headColumns+` FROM audit_heads WHERE tree_size > $1 ORDER BY tree_size LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []audit.Head{}
	for rows.Next() {
		h, err := scanHead(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// LatestHead returns the newest signed head, nil before the first.
func (l *AuditLog) LatestHead(ctx context.Context) (_ *audit.Head, err error) {
	defer ledger.Wrap(&err, "AuditLog.LatestHead")
	h, err := scanHead(l.pool.QueryRowContext(ctx, `SELECT `+headColumns+` FROM audit_heads ORDER BY tree_size DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// InclusionProof proves that the event at position is a leaf of the tree of
// treeSize leaves (the newest head's size when 0). Its errors: ENotFound for
// a position no event has, or one not yet in the tree; EInvalid naming
// tree_size for a size the tree has not reached or that does not hold the
// event.
func (l *AuditLog) InclusionProof(ctx context.Context, position, treeSize int64) (_ audit.InclusionProof, err error) {
	defer ledger.Wrap(&err, "AuditLog.InclusionProof")
	// One snapshot: the leaf, the tree's size and the hashes agree.
	tx, err := l.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return audit.InclusionProof{}, err
	}
	defer tx.Rollback()
	var leaf int64
	var hashes []byte
	var event bool
	err = tx.QueryRowContext(ctx, `
		SELECT t.leaf_index, t.hashes, e.position IS NOT NULL
		FROM (SELECT $1::bigint AS position) p
		LEFT JOIN events e ON e.position = p.position
		LEFT JOIN audit_tree t ON t.position = p.position`, position).Scan(&nullInt{&leaf}, &hashes, &event)
	if err != nil {
		return audit.InclusionProof{}, err
	}
	switch {
	case !event:
		return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound, "no event has position %d", position)
	case hashes == nil:
		return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound,
			"the event at position %d is not in the tree yet: its head is signed within moments of the commit; try again", position)
	}
	stored, headed, err := sizes(ctx, tx)
	if err != nil {
		return audit.InclusionProof{}, err
	}
	size := treeSize
	switch {
	case size == 0 && headed == 0:
		return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound, "no tree head is signed yet")
	case size == 0:
		size = headed
	case size < 0:
		return audit.InclusionProof{}, invalidSize("tree_size", "must be positive")
	case size > stored:
		return audit.InclusionProof{}, invalidSize("tree_size", "the tree has %d leaves; %d is beyond it", stored, size)
	}
	if leaf >= size {
		return audit.InclusionProof{}, invalidSize("tree_size", "the event at position %d is leaf %d: a tree of %d leaves does not hold it", position, leaf, size)
	}
	proof, err := tlog.ProveRecord(size, leaf, hashReader(ctx, tx))
	if err != nil {
		return audit.InclusionProof{}, err
	}
	out := audit.InclusionProof{LeafIndex: leaf, TreeSize: size, Hashes: proof}
	copy(out.LeafHash[:], hashes)
	return out, nil
}

// ConsistencyProof proves that the tree of from leaves is a prefix of the
// tree of to leaves. Its errors: EInvalid naming from or to when
// 1 <= from <= to <= the tree's size does not hold.
func (l *AuditLog) ConsistencyProof(ctx context.Context, from, to int64) (_ []tlog.Hash, err error) {
	defer ledger.Wrap(&err, "AuditLog.ConsistencyProof")
	tx, err := l.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	switch {
	case from < 1:
		return nil, invalidSize("from", "must be at least 1: every tree holds the empty one")
	case to < from:
		return nil, invalidSize("to", "must be at least from (%d)", from)
	}
	stored, _, err := sizes(ctx, tx)
	if err != nil {
		return nil, err
	}
	if to > stored {
		return nil, invalidSize("to", "the tree has %d leaves; %d is beyond it", stored, to)
	}
	proof, err := tlog.ProveTree(to, from, hashReader(ctx, tx))
	if err != nil {
		return nil, err
	}
	return proof, nil
}

// sizes returns the number of leaves stored and the newest head's size.
func sizes(ctx context.Context, q querier) (stored, headed int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_tree),
		(SELECT coalesce(max(tree_size), 0) FROM audit_heads)`).Scan(&stored, &headed)
	return stored, headed, err
}

func invalidSize(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &ledger.Error{Code: ledger.EInvalid, Message: field + ": " + msg, Fields: []ledger.FieldError{{Field: field, Message: msg}}}
}

// nullInt scans a nullable bigint, leaving the target alone on NULL.
type nullInt struct{ v *int64 }

func (n nullInt) Scan(src any) error {
	if src == nil {
		return nil
	}
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*n.v = v.Int64
	return nil
}

const checkpointColumns = `id, position, transaction_id::text AS txid, event_count, running_hash, signature, recorded_at`

func scanCheckpoint(row interface{ Scan(...any) error }) (*audit.Checkpoint, error) {
	var cp audit.Checkpoint
	if err := row.Scan(&cp.ID, &cp.Position, &cp.TransactionID, &cp.EventCount, &cp.RunningHash, &cp.Signature, &cp.RecordedAt); err != nil {
		return nil, err
	}
	cp.RecordedAt = cp.RecordedAt.UTC()
	return &cp, nil
}

// Checkpoints lists the HMAC checkpoints recorded before tree heads, in
// the order they were recorded, after the one with id after.
func (l *AuditLog) Checkpoints(ctx context.Context, after int64, limit int) (_ []audit.Checkpoint, err error) {
	defer ledger.Wrap(&err, "AuditLog.Checkpoints")
	rows, err := l.pool.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []audit.Checkpoint{}
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *cp)
	}
	return out, rows.Err()
}

// Verify checks every stream chain, the tree over the commit order against
// every signed head and the stored tree's leaves, and the HMAC checkpoints
// (when keys.HMAC is set), in one consistent snapshot. With exported == nil
// it checks the database's own checkpoints; otherwise the ones given (an
// auditor's copy).
func (l *AuditLog) Verify(ctx context.Context, keys audit.Keys, exported audit.Checkpoints) (_ audit.Report, err error) {
	defer ledger.Wrap(&err, "AuditLog.Verify")
	// A read-only transaction takes no transaction id, so it holds back no
	// subscriber however long it reads. The events are read on one
	// connection while the heads, leaves and checkpoints are read on
	// another, in one snapshot: the second transaction imports the first
	// one's.
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	tx, err := l.pool.BeginTx(ctx, opts)
	if err != nil {
		return audit.Report{}, err
	}
	defer tx.Rollback()
	var snapshot string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return audit.Report{}, err
	}
	tx2, err := l.pool.BeginTx(ctx, opts)
	if err != nil {
		return audit.Report{}, err
	}
	defer tx2.Rollback()
	if _, err := tx2.ExecContext(ctx, `SET TRANSACTION SNAPSHOT `+pq.QuoteLiteral(snapshot)); err != nil {
		return audit.Report{}, err
	}
	events, beside := &verifier{tx: tx}, &verifier{tx: tx2}
	src := audit.Sources{Heads: &headCursor{v: beside}, Checkpoints: exported, Leaves: &leafCursor{v: beside}}
	if exported == nil && keys.HMAC != nil {
		src.Checkpoints = &checkpointCursor{v: beside}
	}
	return audit.Verify(ctx, events, keys, src)
}

// VerifySince checks only what follows the newest signed head, in one
// consistent snapshot: see audit.VerifySince. With no head yet it checks
// the whole log.
func (l *AuditLog) VerifySince(ctx context.Context, keys audit.Keys) (_ audit.Report, err error) {
	defer ledger.Wrap(&err, "AuditLog.VerifySince")
	tx, err := l.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return audit.Report{}, err
	}
	defer tx.Rollback()
	v := &verifier{tx: tx}
	head, err := scanHead(tx.QueryRowContext(ctx, `SELECT `+headColumns+` FROM audit_heads ORDER BY tree_size DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		tx.Rollback()
		return l.Verify(ctx, keys, nil)
	}
	if err != nil {
		return audit.Report{}, err
	}
	return audit.VerifySince(ctx, v, keys.Public, head)
}

// verifier reads the log in chunks through server-side cursors, so one
// connection can interleave events and checkpoints.
type verifier struct {
	tx      *sql.Tx
	cursors int
}

const chunk = 2000

func (v *verifier) declare(ctx context.Context, query string) (string, error) {
	v.cursors++
	name := fmt.Sprintf("verify_%d", v.cursors)
	_, err := v.tx.ExecContext(ctx, `DECLARE `+name+` NO SCROLL CURSOR FOR `+query)
	return name, err
}

// The text form of transaction_id is named txid: unqualified in an ORDER BY,
// the name transaction_id would otherwise sort by the text.
const storedEventColumns = `position, transaction_id::text AS txid, event_id, stream_id, stream_type, stream_version, type, data::text, metadata::text, recorded_at, hash, prev_hash`

func (v *verifier) each(ctx context.Context, order string, fn func(audit.StoredEvent) error) error {
	return v.eachRow(ctx, `SELECT `+storedEventColumns+`, false FROM events ORDER BY `+order, func(e audit.StoredEvent, _ bool) error { return fn(e) })
}

// eachRow runs query, which selects storedEventColumns and a boolean, through
// a cursor.
func (v *verifier) eachRow(ctx context.Context, query string, fn func(audit.StoredEvent, bool) error) error {
	type row struct {
		e    audit.StoredEvent
		flag bool
	}
	return fetchAll(ctx, v, query, func(rows *sql.Rows) (row, error) {
		e, flag, err := scanStoredEvent(rows)
		return row{e, flag}, err
	}, func(r row) error { return fn(r.e, r.flag) })
}

// fetchAll runs query through a cursor, chunk rows at a time. Each chunk is
// read to its end before fn sees its rows, so fn may use the transaction
// (the checkpoints are read on it between events).
func fetchAll[T any](ctx context.Context, v *verifier, query string, scan func(*sql.Rows) (T, error), fn func(T) error) error {
	cursor, err := v.declare(ctx, query)
	if err != nil {
		return err
	}
	for {
		batch, err := fetchChunk(ctx, v, cursor, scan)
		if err != nil {
			return err
		}
		for _, item := range batch {
			if err := fn(item); err != nil {
				return err
			}
		}
		if len(batch) < chunk {
			return nil
		}
	}
}

func scanStoredEvent(row interface{ Scan(...any) error }) (audit.StoredEvent, bool, error) {
	var e audit.StoredEvent
	var data, meta string
	var flag bool
	err := row.Scan(&e.Position, &e.TransactionID, &e.EventID, &e.StreamID, &e.StreamType, &e.StreamVersion,
		&e.Type, &data, &meta, &e.RecordedAt, &e.Hash, &e.PrevHash, &flag)
	e.Data, e.Metadata = []byte(data), []byte(meta)
	return e, flag, err
}

// EachEventInCommitOrder reads every event with its content in commit
// order, reading the next chunk while fn checks the one before: fn must not
// use v's transaction.
func (v *verifier) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	// Ordered by the qualified column: unqualified, transaction_id would name
	// the text output column and sort "1000" before "786".
	return prefetchAll(ctx, v, `SELECT `+storedEventColumns+`, false FROM events ORDER BY events.transaction_id, events.position`,
		func(rows *sql.Rows) (audit.StoredEvent, error) {
			e, _, err := scanStoredEvent(rows)
			return e, err
		}, fn)
}

// prefetchAll is fetchAll with the next chunk read while fn handles the
// rows of the one before, so that the database and this process work at
// once: fn must not use v's transaction.
func prefetchAll[T any](ctx context.Context, v *verifier, query string, scan func(*sql.Rows) (T, error), fn func(T) error) error {
	cursor, err := v.declare(ctx, query)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	type chunkOf struct {
		items []T
		err   error
	}
	chunks := make(chan chunkOf, 1)
	go func() {
		defer close(chunks)
		for {
			items, err := fetchChunk(ctx, v, cursor, scan)
			select {
			case chunks <- chunkOf{items, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(items) < chunk {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range chunks { // the reader is done with the transaction once it closes chunks
		}
	}()
	for c := range chunks {
		if c.err != nil {
			return c.err
		}
		for _, item := range c.items {
			if err := fn(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchChunk fetches the next chunk rows of cursor.
func fetchChunk[T any](ctx context.Context, v *verifier, cursor string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+cursor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := make([]T, 0, chunk)
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, rows.Err()
}

func (v *verifier) EventAt(ctx context.Context, position int64) (*audit.StoredEvent, error) {
	e, _, err := scanStoredEvent(v.tx.QueryRowContext(ctx, `SELECT `+storedEventColumns+`, false FROM events WHERE position = $1`, position))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// EachEventByStreamAfter reads the events after the event cp in commit order through
// events_commit_order_idx, and each of their streams' last event before
// them through the (stream_id, stream_version) key, so the cost follows the
// new events, not the log. The anchors are joined on the whole key, which
// keeps the plan an index lookup per stream: a range on the version let the
// planner scan the table.
func (v *verifier) EachEventByStreamAfter(ctx context.Context, cp audit.StoredEvent, fn func(audit.StoredEvent, bool) error) error {
	// Literals, not parameters, in a cursor's query: the planner then knows
	// how few events follow the checkpoint.
	txid := strconv.FormatUint(cp.TransactionID, 10)
	pos := strconv.FormatInt(cp.Position, 10)
	return v.eachRow(ctx, `
		WITH after AS MATERIALIZED (
			SELECT * FROM events WHERE (transaction_id, position) > ('`+txid+`'::xid8, `+pos+`)),
		anchors AS (
			SELECT stream_id, min(stream_version) - 1 AS version FROM after GROUP BY stream_id)
		SELECT `+storedEventColumns+`, anchor FROM (
			SELECT after.*, false AS anchor FROM after
			UNION ALL
			SELECT e.*, true FROM anchors a JOIN events e ON e.stream_id = a.stream_id AND e.stream_version = a.version) e
		ORDER BY stream_id, stream_version`, fn)
}

// StoredTree returns the root of the stored tree of size leaves, and the
// position and leaf hash stored for its last leaf.
func (v *verifier) StoredTree(ctx context.Context, size int64) (root tlog.Hash, position int64, leaf tlog.Hash, err error) {
	root, err = tlog.TreeHash(size, hashReader(ctx, v.tx))
	if err != nil {
		return root, 0, leaf, err
	}
	var hashes []byte
	err = v.tx.QueryRowContext(ctx, `SELECT position, hashes FROM audit_tree WHERE leaf_index = $1`, size-1).Scan(&position, &hashes)
	copy(leaf[:], hashes)
	return root, position, leaf, err
}

// leafCursor yields the stored tree's leaves by index.
type leafCursor struct {
	v    *verifier
	next func() (*audit.StoredLeaf, error)
}

func (c *leafCursor) Next(ctx context.Context) (*audit.StoredLeaf, error) {
	if c.next == nil {
		c.next = cursorOf(ctx, c.v, `SELECT leaf_index, position, substring(hashes FROM 1 FOR 32) FROM audit_tree ORDER BY leaf_index`,
			func(rows *sql.Rows) (audit.StoredLeaf, error) {
				var l audit.StoredLeaf
				var hash []byte
				err := rows.Scan(&l.Index, &l.Position, &hash)
				copy(l.Hash[:], hash)
				return l, err
			})
	}
	return c.next()
}

// cursorOf returns a function that yields query's rows one at a time,
// fetched chunk rows at a time through a cursor on v's transaction, and
// nil after the last.
func cursorOf[T any](ctx context.Context, v *verifier, query string, scan func(*sql.Rows) (T, error)) func() (*T, error) {
	var name string
	var buf []T
	done := false
	return func() (*T, error) {
		if name == "" {
			var err error
			if name, err = v.declare(ctx, query); err != nil {
				return nil, err
			}
		}
		if len(buf) == 0 && !done {
			var err error
			if buf, err = fetchChunk(ctx, v, name, scan); err != nil {
				return nil, err
			}
			done = len(buf) < chunk
		}
		if len(buf) == 0 {
			return nil, nil
		}
		item := buf[0]
		buf = buf[1:]
		return &item, nil
	}
}

// headCursor yields the signed heads by increasing tree size.
type headCursor struct {
	v    *verifier
	next func() (*audit.Head, error)
}

func (c *headCursor) Next(ctx context.Context) (*audit.Head, error) {
	if c.next == nil {
		c.next = cursorOf(ctx, c.v, `SELECT `+headColumns+` FROM audit_heads ORDER BY tree_size`,
			func(rows *sql.Rows) (audit.Head, error) { return scanHead(rows) })
	}
	return c.next()
}

// checkpointCursor yields the database's HMAC checkpoints in recording order.
type checkpointCursor struct {
	v    *verifier
	next func() (*audit.Checkpoint, error)
}

func (c *checkpointCursor) Next(ctx context.Context) (*audit.Checkpoint, error) {
	if c.next == nil {
		c.next = cursorOf(ctx, c.v, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id`,
			func(rows *sql.Rows) (audit.Checkpoint, error) {
				cp, err := scanCheckpoint(rows)
				if err != nil {
					return audit.Checkpoint{}, err
				}
				return *cp, nil
			})
	}
	return c.next()
}

// Export calls events for every event in commit order, with its content as
// hashed, then heads for every signed head by increasing size, all from one
// snapshot.
func (l *AuditLog) Export(ctx context.Context, events func(audit.StoredEvent) error, heads func(audit.Head) error) (err error) {
	defer ledger.Wrap(&err, "AuditLog.Export")
	tx, err := l.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	v := &verifier{tx: tx}
	if err := v.each(ctx, `events.transaction_id, events.position`, events); err != nil {
		return err
	}
	cursor := &headCursor{v: v}
	for {
		h, err := cursor.Next(ctx)
		if err != nil || h == nil {
			return err
		}
		if err := heads(*h); err != nil {
			return err
		}
	}
}
