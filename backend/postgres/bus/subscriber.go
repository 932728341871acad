// Package bus delivers the events table to the ledger's consumer groups:
// Watermill subscribers that read it in commit-safe order below the
// delivery horizon (horizon.go), the notifications that wake them
// (notify.go), each group's position and lag, and the Bus the worker
// subscribes through (bus.go). backend/postgres opens it over its pool.
package bus

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// EventsTopic is the Watermill topic every event is delivered on.
const EventsTopic = "events"

// Message metadata keys that carry the event's envelope to subscribers.
const (
	metaPosition      = "position"
	metaStreamID      = "stream_id"
	metaStreamType    = "stream_type"
	metaStreamVersion = "stream_version"
	metaType          = "type"
	metaRecordedAt    = "recorded_at"
	metaCorrelationID = "correlation_id"
	metaHash          = "hash"
	metaTransactionID = "transaction_id"
	metaCausationID   = "causation_id"
	metaActor         = "actor"
	// metaBatch and metaBatchIndex say which delivered batch a message came
	// in and where (see Subscriber.ApplyBatch).
	metaBatch      = "batch"
	metaBatchIndex = "batch_index"
)

// defaultBatchSize is the batch a subscriber reads when its configuration
// names none.
const defaultBatchSize = 100

// SubscriberConfig tunes one consumer group's subscriber.
type SubscriberConfig struct {
	ConsumerGroup string
	PollInterval  time.Duration
	BatchSize     int
	// AckDeadline is how long a handler may take over one event before
	// its batch ends unacknowledged and is read again; Watermill's 30 s
	// when zero.
	AckDeadline time.Duration
	// Types, when set, are the only event types the group reads. The others
	// are never sent to it, yet its position still moves past them: a group
	// that reads a few types neither reads nor handles the rest.
	Types []string
	// Backoff decides how long to wait after an empty poll or an error; nil
	// means Watermill's default (PollInterval, then 1 s after errors).
	Backoff wsql.BackoffManager
}

// Subscriptions delivers the events table to subscribers: Watermill
// subscribers in commit-safe order, the notifications that wake them, and
// where each consumer group stands.
type Subscriptions struct {
	pool    *sql.DB
	url     string // for the listener's and the horizons' own connections
	commits Commits
	now     func() time.Time
	logger  *slog.Logger
	// bind gives a batch handler the stores bound to its batch's transaction.
	bind func(Querier) app.Tx

	horizonsOnce sync.Once
	horizons     *horizons
	horizonsErr  error
	// beforeSnapshot, when set (tests), runs between reading a batch's
	// horizon and reading the batch.
	beforeSnapshot func()
}

// Config is what Subscriptions need.
type Config struct {
	// Pool is the ledger's connection pool; URL opens the listener's and
	// the horizons' own connections.
	Pool *sql.DB
	URL  string
	// Commits tells AnnounceCommits what committed.
	Commits Commits
	// Bind returns the stores bound to a batch's transaction, for the
	// batch handlers (Subscriber.ApplyBatch).
	Bind   func(Querier) app.Tx
	Now    func() time.Time
	Logger *slog.Logger
}

// Commits is told, by the event store, which event types each of its
// transactions appended once it committed (postgres.DB keeps it).
type Commits interface {
	// Pending is signalled when events committed since the last Take.
	Pending() <-chan struct{}
	// Take returns the types committed since the last Take, sorted; empty
	// when any type may have been.
	Take() []string
	// Again puts types back for the next announcement, and asks for one.
	Again(types []string)
}

// New returns the subscriptions over cfg's pool.
func New(cfg Config) *Subscriptions {
	return &Subscriptions{pool: cfg.Pool, url: cfg.URL, commits: cfg.Commits, bind: cfg.Bind, now: cfg.Now, logger: cfg.Logger}
}

// Close closes the horizons' connection, if one was opened.
func (s *Subscriptions) Close() {
	if s.horizons != nil {
		s.horizons.close()
	}
}

// BeforeSnapshot sets a function the subscribers run between reading a
// batch's horizon and reading the batch, for a test that forces an
// interleaving there; set it before NewSubscriber.
func (s *Subscriptions) BeforeSnapshot(fn func()) { s.beforeSnapshot = fn }

// BatchQuery returns the statement a subscriber of group reads its next
// batch with, and its arguments, as it would read it now: to EXPLAIN it.
func (s *Subscriptions) BatchQuery(group string) (string, []any, error) {
	h, err := newHorizons(s.url, s.logger)
	if err != nil {
		return "", nil, err
	}
	defer h.close()
	q := eventsSchema{batch: &deliveredBatch{}, horizons: h}.SelectQuery(EventsTopic, group, offsetsAdapter)
	return q.Query, q.Args, nil
}

// Statuses reports every consumer group's position and lag. A group that
// never ran reports position 0 and the whole log as lag. reads names, for a
// group that reads only some event types (SubscriberConfig.Types), those
// types: its lag counts only events of them, since it passes over the
// others unread (its position reaches them at its next poll).
func (s *Subscriptions) Statuses(ctx context.Context, groups []string, reads map[string][]string) (_ []app.SubscriberStatus, err error) {
	defer ledger.Wrap(&err, "Subscriptions.Statuses")
	var head int64
	if err := s.pool.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return nil, err
	}
	out := make([]app.SubscriberStatus, 0, len(groups))
	for _, g := range groups {
		st := app.SubscriberStatus{Group: g, Head: head}
		var oldest sql.NullTime
		var types any // NULL: every type
		if t, ok := reads[g]; ok {
			types = pq.Array(t)
		}
		err := s.pool.QueryRowContext(ctx, `
			WITH o AS (
				SELECT coalesce(max(offset_acked), 0) AS pos, coalesce(max(last_processed_transaction_id), '0'::xid8) AS txid
				FROM subscription_offsets WHERE consumer_group = $1
			)
			SELECT o.pos, count(e.position), min(e.recorded_at)
			FROM o LEFT JOIN events e ON (e.transaction_id, e.position) > (o.txid, o.pos)
				AND ($2::text[] IS NULL OR e.type = ANY ($2::text[]))
			GROUP BY o.pos`, g, types).Scan(&st.Position, &st.Lag, &oldest)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", g, err)
		}
		if oldest.Valid {
			st.LagSeconds = s.now().Sub(oldest.Time).Seconds()
		}
		out = append(out, st)
	}
	return out, nil
}

// Subscriber is a Watermill subscriber of the events table that also lets
// its handler apply each delivered batch at once (see ApplyBatch). It
// subscribes to one topic once: a Watermill router handler.
type Subscriber struct {
	*wsql.Subscriber
	batch *deliveredBatch
	bind  func(Querier) app.Tx
}

// NewSubscriber returns a Watermill subscriber that delivers the events table
// to one consumer group in commit-safe order: by transaction id, then
// position, holding back events of transactions that may still be running.
// The tables come from migrations, never from the subscriber.
func (s *Subscriptions) NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	s.horizonsOnce.Do(func() { s.horizons, s.horizonsErr = newHorizons(s.url, s.logger) })
	if s.horizonsErr != nil {
		return nil, s.horizonsErr
	}
	batch := &deliveredBatch{}
	size := cfg.BatchSize
	if size <= 0 {
		size = defaultBatchSize
	}
	if w, ok := cfg.Backoff.(interface{ watchBatches(func() bool) }); ok {
		w.watchBatches(func() bool { return batch.size() >= size })
	}
	var ackDeadline *time.Duration
	if cfg.AckDeadline > 0 {
		ackDeadline = &cfg.AckDeadline
	}
	sub, err := wsql.NewSubscriber(s.pool, wsql.SubscriberConfig{
		ConsumerGroup:  cfg.ConsumerGroup,
		AckDeadline:    ackDeadline,
		PollInterval:   cfg.PollInterval,
		ResendInterval: time.Second,
		RetryInterval:  time.Second,
		BackoffManager: cfg.Backoff,
		SchemaAdapter: eventsSchema{batchSize: size, types: slices.Clone(cfg.Types), batch: batch,
			horizons: s.horizons, beforeSnapshot: s.beforeSnapshot},
		OffsetsAdapter:   offsetsAdapter,
		InitializeSchema: false,
	}, logger)
	if err != nil {
		return nil, err
	}
	return &Subscriber{Subscriber: sub, batch: batch, bind: s.bind}, nil
}

// deliveredBatch holds the events of the batch the subscriber read last.
// Watermill reads a batch in one transaction, unmarshals every row, then
// hands the messages to the handler one at a time, each acknowledged before
// the next, and commits the batch's position once at the end. So when a
// batch's first message reaches the handler, every event of the batch is
// here.
type deliveredBatch struct {
	mu     sync.Mutex
	seq    uint64 // counts the batches read
	events []ledger.RecordedEvent
	// applied counts the events at the batch's start that the handler has
	// applied in the batch's transaction.
	applied int
}

// ApplyBatch lets a handler write a whole delivered batch with a few
// statements instead of a few per event. At a batch's first message it calls
// apply with the stores bound to msg's transaction (the subscriber's batch
// transaction, so the writes commit with the batch's position or not at
// all) and every event of the batch; at the batch's later messages it calls nothing, since their
// events are applied already. apply runs inside a savepoint: Watermill
// retries a failed message inside the same transaction, which a failed
// statement would otherwise leave aborted, so the retry calls apply again,
// with the same events, on a usable transaction. A message of a batch no
// longer held (which the sequence above rules out) is applied alone.
func (s *Subscriber) ApplyBatch(msg *message.Message, apply func(tx app.Tx, events []ledger.RecordedEvent) error) error {
	tx, ok := wsql.TxFromContext(msg.Context())
	if !ok {
		return errors.New("a batch handler needs the subscriber's transaction")
	}
	seq, events, end, err := s.batch.from(msg)
	if err != nil || len(events) == 0 {
		return err
	}
	if err := withSavepoint(msg.Context(), tx, func() error { return apply(s.bind(tx), events) }); err != nil {
		return err
	}
	s.batch.markApplied(seq, end)
	return nil
}

// from returns the batch msg came in, msg's event and the events after it
// in that batch that are not applied yet, and the index just past them. A
// message of a batch no longer held yields its own event and end 0.
func (b *deliveredBatch) from(msg *message.Message) (seq uint64, events []ledger.RecordedEvent, end int, err error) {
	seq, errSeq := strconv.ParseUint(msg.Metadata.Get(metaBatch), 10, 64)
	index, errIndex := strconv.Atoi(msg.Metadata.Get(metaBatchIndex))
	b.mu.Lock()
	defer b.mu.Unlock()
	if errSeq == nil && errIndex == nil && seq == b.seq && index >= 0 && index < len(b.events) &&
		b.events[index].EventID.String() == msg.UUID {
		if index < b.applied {
			return seq, nil, 0, nil
		}
		return seq, b.events[index:], len(b.events), nil
	}
	rec, err := EventFromMessage(msg)
	if err != nil {
		return 0, nil, 0, err
	}
	return seq, []ledger.RecordedEvent{rec}, 0, nil
}

// markApplied records that the events of batch seq before end are applied.
func (b *deliveredBatch) markApplied(seq uint64, end int) {
	b.mu.Lock()
	if seq == b.seq {
		b.applied = max(b.applied, end)
	}
	b.mu.Unlock()
}

// size is the number of events of the batch read last.
func (b *deliveredBatch) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events)
}

// begin starts a new batch.
func (b *deliveredBatch) begin() {
	b.mu.Lock()
	b.seq++
	b.events, b.applied = nil, 0
	b.mu.Unlock()
}

// add records an event of the current batch and returns the batch's
// sequence number and the event's index in it.
func (b *deliveredBatch) add(rec ledger.RecordedEvent) (uint64, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, rec)
	return b.seq, len(b.events) - 1
}

var offsetsAdapter = wsql.DefaultPostgreSQLOffsetsAdapter{
	GenerateMessagesOffsetsTableName: func(string) string { return "subscription_offsets" },
}

// eventsSchema is the Watermill schema adapter for the events table.
type eventsSchema struct {
	batchSize      int
	types          []string // all when empty
	batch          *deliveredBatch
	horizons       *horizons
	beforeSnapshot func()
}

var _ wsql.SchemaAdapter = eventsSchema{}

func (eventsSchema) SchemaInitializingQueries(string) []wsql.Query { return nil }

// InsertQuery is never used: events are appended by the event store, inside
// the command's transaction.
func (eventsSchema) InsertQuery(string, message.Messages) (wsql.Query, error) {
	return wsql.Query{}, errors.New("events are appended through the event store, not published")
}

// SelectQuery reads the delivery horizon (see horizon.go) and returns the
// query of the batch below it. Watermill calls it after beginning the
// batch's transaction but before the transaction's first statement, which
// takes its snapshot: so the horizon is read first, as it must be.
func (s eventsSchema) SelectQuery(topic, consumerGroup string, offsets wsql.OffsetsAdapter) wsql.Query {
	s.batch.begin() // Watermill asks for the query once per batch it reads
	horizon := s.horizons.read()
	if s.beforeSnapshot != nil {
		s.beforeSnapshot()
	}
	next := offsets.NextOffsetQuery(topic, consumerGroup)
	batch := s.batchSize
	if batch <= 0 {
		batch = defaultBatchSize
	}
	args := append(slices.Clone(next.Args), horizon)
	h := `$` + strconv.Itoa(len(args)) + `::xid8`
	// Watermill's own query writes "after the last acknowledged event" as
	// (same transaction and later position) OR (later transaction); the
	// planner then reads and sorts every pending event to return a batch,
	// so a subscriber that falls behind slows down. The same condition as a
	// row comparison is an index range scan that stops after one batch.
	const after = `(transaction_id, position) > (
			(SELECT last_processed_transaction_id FROM last_processed),
			(SELECT offset_acked FROM last_processed))`
	if len(s.types) == 0 {
		return wsql.Query{Query: `
	WITH last_processed AS (` + next.Query + `)
	SELECT position, transaction_id, ` + deliveredColumns + ` FROM events
	WHERE ` + after + ` AND transaction_id < ` + h + `
	ORDER BY transaction_id, position
	LIMIT ` + strconv.Itoa(batch), Args: args}
	}
	// A group of a few types reads only those. When none is below the
	// horizon, the same statement moves the group's position to the newest
	// event there, past everything it does not read: the poll then
	// delivers nothing and commits that position, and the subscriber waits
	// as after any empty poll. (Delivering that event as a message to skip
	// would make Watermill poll again at once, in a loop, under load.)
	args = append(args, pq.Array(s.types))
	return wsql.Query{Query: `
	WITH last_processed AS (` + next.Query + `),
	wanted AS (
		SELECT position, transaction_id, ` + deliveredColumns + ` FROM events
		WHERE ` + after + ` AND transaction_id < ` + h + ` AND type = ANY ($` + strconv.Itoa(len(args)) + `::text[])
		ORDER BY transaction_id, position
		LIMIT ` + strconv.Itoa(batch) + `),
	passed AS (
		UPDATE subscription_offsets SET offset_acked = newest.position, last_processed_transaction_id = newest.transaction_id
		FROM (SELECT position, transaction_id FROM events WHERE ` + after + ` AND transaction_id < ` + h + `
			ORDER BY transaction_id DESC, position DESC LIMIT 1) newest
		WHERE consumer_group = $1 AND NOT EXISTS (SELECT FROM wanted)
		RETURNING 1)
	SELECT * FROM wanted ORDER BY transaction_id, position`, Args: args}
}

// deliveredColumns are what a subscriber reads of an event besides its
// position and transaction. The metadata's fields are taken apart by the
// server: decoding its JSON in Go, once per event for every subscriber,
// cost more than the rest of the row.
const deliveredColumns = `event_id, stream_id, stream_type, stream_version, type, data,
	coalesce(metadata->>'correlation_id', ''), coalesce(metadata->>'causation_id', ''), coalesce(metadata->>'actor', ''),
	recorded_at, hash`

func (s eventsSchema) UnmarshalMessage(row wsql.Scanner) (wsql.Row, error) {
	var rec ledger.RecordedEvent
	var transactionID int64
	var data []byte
	if err := row.Scan(&rec.Position, &transactionID, &rec.EventID, &rec.StreamID, &rec.StreamType, &rec.StreamVersion,
		&rec.Type, &data, &rec.Metadata.CorrelationID, &rec.Metadata.CausationID, &rec.Metadata.Actor,
		&rec.RecordedAt, &rec.Hash); err != nil {
		return wsql.Row{}, fmt.Errorf("scan event: %w", err)
	}
	rec.Data = data
	rec.TransactionID = uint64(transactionID)
	seq, index := s.batch.add(rec)
	msg := message.NewMessage(rec.EventID.String(), data)
	msg.Metadata = message.Metadata{
		metaPosition:      strconv.FormatInt(rec.Position, 10),
		metaStreamID:      rec.StreamID.String(),
		metaStreamType:    rec.StreamType,
		metaStreamVersion: strconv.FormatInt(rec.StreamVersion, 10),
		metaType:          rec.Type,
		metaRecordedAt:    rec.RecordedAt.UTC().Format(time.RFC3339Nano),
		metaCorrelationID: rec.Metadata.CorrelationID,
		metaCausationID:   rec.Metadata.CausationID,
		metaActor:         rec.Metadata.Actor,
		metaHash:          hex.EncodeToString(rec.Hash),
		metaTransactionID: strconv.FormatInt(transactionID, 10),
		metaBatch:         strconv.FormatUint(seq, 10),
		metaBatchIndex:    strconv.Itoa(index),
	}
	return wsql.Row{
		Offset: rec.Position, UUID: []byte(msg.UUID), Payload: data, Msg: msg,
		ExtraData: map[string]any{"transaction_id": transactionID},
	}, nil
}

func (eventsSchema) SubscribeIsolationLevel() sql.IsolationLevel { return sql.LevelRepeatableRead }

// EventFromMessage reads back the event a subscriber delivered.
func EventFromMessage(msg *message.Message) (ledger.RecordedEvent, error) {
	var rec ledger.RecordedEvent
	var err error
	parse := func(key string, into func(string) error) {
		if err == nil {
			if perr := into(msg.Metadata.Get(key)); perr != nil {
				err = fmt.Errorf("message %s: %s: %w", msg.UUID, key, perr)
			}
		}
	}
	parse(metaPosition, func(s string) (e error) { rec.Position, e = strconv.ParseInt(s, 10, 64); return })
	parse(metaStreamVersion, func(s string) (e error) { rec.StreamVersion, e = strconv.ParseInt(s, 10, 64); return })
	parse(metaStreamID, func(s string) (e error) { rec.StreamID, e = uuid.Parse(s); return })
	parse(metaRecordedAt, func(s string) (e error) { rec.RecordedAt, e = time.Parse(time.RFC3339Nano, s); return })
	parse(metaHash, func(s string) (e error) { rec.Hash, e = hex.DecodeString(s); return })
	parse(metaTransactionID, func(s string) (e error) { rec.TransactionID, e = strconv.ParseUint(s, 10, 64); return })
	if err != nil {
		return ledger.RecordedEvent{}, err
	}
	if rec.EventID, err = uuid.Parse(msg.UUID); err != nil {
		return ledger.RecordedEvent{}, fmt.Errorf("message %s: id: %w", msg.UUID, err)
	}
	rec.StreamType = msg.Metadata.Get(metaStreamType)
	rec.Type = msg.Metadata.Get(metaType)
	rec.Data = json.RawMessage(msg.Payload)
	rec.Metadata = ledger.Metadata{
		CorrelationID: msg.Metadata.Get(metaCorrelationID),
		CausationID:   msg.Metadata.Get(metaCausationID),
		Actor:         msg.Metadata.Get(metaActor),
	}
	return rec, nil
}

// withSavepoint runs fn inside a savepoint of tx: a failed write is rolled
// back to it, leaving the subscriber's batch transaction usable for a retry.
func withSavepoint(ctx context.Context, tx *sql.Tx, fn func() error) (err error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT handler`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		stmt := `RELEASE SAVEPOINT handler`
		if err != nil {
			stmt = `ROLLBACK TO SAVEPOINT handler`
		}
		if _, spErr := tx.ExecContext(ctx, stmt); spErr != nil && err == nil {
			err = fmt.Errorf("%s: %w", stmt, spErr)
		}
	}()
	return fn()
}
