package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
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
}

var _ app.AuditLog = (*AuditLog)(nil)

// Append adds the events, delivered in commit order, as leaves of the tree
// and stores the tree's head signed by signer, all in tx (the audit.tree
// subscriber's batch transaction), so the leaves, the head and the
// subscriber's position commit together: one signed head per batch.
// Events already leaves are skipped, which makes redelivery harmless; the
// subscriber's batches of one group never run at once, so the tree read
// here is the tree this batch extends.
func (l *AuditLog) Append(ctx context.Context, tx *sql.Tx, signer *audit.Signer, events []ledger.RecordedEvent) (err error) {
	defer ledger.Wrap(&err, "AuditLog.Append")
	positions := make([]int64, len(events))
	for i, rec := range events {
		positions[i] = rec.Position
	}
	// Leaves already in the tree, and the hashes of events delivered
	// without them, in one statement.
	rows, err := tx.QueryContext(ctx, `
		SELECT e.position, e.hash, t.leaf_index IS NOT NULL
		FROM unnest($1::bigint[]) AS p(position)
		JOIN events e ON e.position = p.position
		LEFT JOIN audit_tree t ON t.position = p.position`, pq.Array(positions))
	if err != nil {
		return err
	}
	type known struct {
		hash   []byte
		inTree bool
	}
	byPosition := make(map[int64]known, len(events))
	for rows.Next() {
		var pos int64
		var k known
		if err := rows.Scan(&pos, &k.hash, &k.inTree); err != nil {
			rows.Close()
			return err
		}
		byPosition[pos] = k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var leaves []tlog.Hash
	var newPositions []int64
	for _, rec := range events {
		k, ok := byPosition[rec.Position]
		if !ok {
			return fmt.Errorf("event %d is not stored", rec.Position)
		}
		if k.inTree {
			continue
		}
		leaves = append(leaves, audit.LeafHash(k.hash))
		newPositions = append(newPositions, rec.Position)
	}
	if len(leaves) == 0 {
		return nil
	}
	size, err := treeSize(ctx, tx)
	if err != nil {
		return err
	}
	frontier, err := readHashes(ctx, tx, audit.FrontierIndexes(size))
	if err != nil {
		return err
	}
	appended, err := audit.Append(size, frontier, leaves)
	if err != nil {
		return err
	}
	head, err := signer.Sign(size+int64(len(leaves)), appended.Root, l.now())
	if err != nil {
		return err
	}
	indexes, stored := make([]int64, len(leaves)), make([][]byte, len(leaves))
	for i, hashes := range appended.Stored {
		indexes[i] = size + int64(i)
		b := make([]byte, 0, len(hashes)*audit.HashSize)
		for _, h := range hashes {
			b = append(b, h[:]...)
		}
		stored[i] = b
	}
	// A concurrent writer of the tree (there should be none) makes the
	// primary keys collide and the batch roll back, to be tried again.
	_, err = tx.ExecContext(ctx, `
		WITH leaves AS (
			INSERT INTO audit_tree (leaf_index, position, hashes)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]))
		INSERT INTO audit_heads (tree_size, root_hash, note, recorded_at) VALUES ($4, $5, $6, $7)`,
		pq.Array(indexes), pq.Array(newPositions), pq.Array(stored),
		head.TreeSize, head.RootHash[:], string(head.Note), head.Timestamp)
	if err != nil {
		return fmt.Errorf("store leaves %d to %d and their head: %w", size, head.TreeSize-1, err)
	}
	return nil
}

// treeSize is the number of leaves stored.
func treeSize(ctx context.Context, q querier) (int64, error) {
	var size int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_tree`).Scan(&size)
	return size, err
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
// every signed head, and the HMAC checkpoints (when keys.HMAC is set), in
// one consistent snapshot. With exported == nil it checks the database's
// own checkpoints; otherwise the ones given (an auditor's copy).
func (l *AuditLog) Verify(ctx context.Context, keys audit.Keys, exported audit.Checkpoints) (_ audit.Report, err error) {
	defer ledger.Wrap(&err, "AuditLog.Verify")
	// A read-only transaction takes no transaction id, so it holds back no
	// subscriber however long it reads. The two walks run at once, each on
	// a connection of its own, in one snapshot: the second transaction
	// imports the first one's.
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
	byStream, inCommitOrder := &verifier{tx: tx}, &verifier{tx: tx2}
	src := audit.Sources{Heads: &headCursor{v: inCommitOrder}, Checkpoints: exported, Leaves: &leafCursor{v: inCommitOrder}}
	if exported == nil && keys.HMAC != nil {
		src.Checkpoints = &checkpointCursor{v: inCommitOrder}
	}
	return audit.Verify(ctx, walks{byStream: byStream, inCommitOrder: inCommitOrder}, keys, src)
}

// walks reads the log for audit.Verify's two walks, each on its own
// verifier, so that they can run at once.
type walks struct{ byStream, inCommitOrder *verifier }

func (w walks) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return w.byStream.EachEventByStream(ctx, fn)
}

func (w walks) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return w.inCommitOrder.EachEventInCommitOrder(ctx, fn)
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
		src := audit.Sources{Heads: audit.NewHeadList(nil)}
		if keys.HMAC != nil {
			src.Checkpoints = &checkpointCursor{v: v}
		}
		return audit.Verify(ctx, v, keys, src)
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
		rows, err := v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+cursor)
		if err != nil {
			return err
		}
		var batch []T
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, item)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
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

func (v *verifier) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return v.each(ctx, `stream_id, stream_version`, fn)
}

// EachEventInCommitOrder reads only what the commit-order walk checks (see
// audit.Store): the content was checked against its hash by stream, so
// reading data and metadata a second time would double the work of a
// full verify.
func (v *verifier) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	// Ordered by the qualified column: unqualified, transaction_id would name
	// the text output column and sort "1000" before "786".
	return fetchAll(ctx, v, `SELECT position, transaction_id::text, stream_id, hash FROM events ORDER BY events.transaction_id, events.position`,
		func(rows *sql.Rows) (e audit.StoredEvent, err error) {
			err = rows.Scan(&e.Position, &e.TransactionID, &e.StreamID, &e.Hash)
			return e, err
		}, fn)
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
			rows, err := v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+name)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				item, err := scan(rows)
				if err != nil {
					rows.Close()
					return nil, err
				}
				buf = append(buf, item)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
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
