package postgres

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

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
)

// SubscriberConfig tunes one consumer group's subscriber.
type SubscriberConfig struct {
	ConsumerGroup string
	PollInterval  time.Duration
	BatchSize     int
	// Backoff decides how long to wait after an empty poll or an error; nil
	// means Watermill's default (PollInterval, then 1 s after errors).
	Backoff wsql.BackoffManager
}

// NewSubscriber returns a Watermill subscriber that delivers the events table
// to one consumer group in commit-safe order: by transaction id, then
// position, holding back events of transactions that may still be running.
// The tables come from migrations, never from the subscriber.
func (db *DB) NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*wsql.Subscriber, error) {
	return wsql.NewSubscriber(db.db, wsql.SubscriberConfig{
		ConsumerGroup:    cfg.ConsumerGroup,
		PollInterval:     cfg.PollInterval,
		ResendInterval:   time.Second,
		RetryInterval:    time.Second,
		BackoffManager:   cfg.Backoff,
		SchemaAdapter:    eventsSchema{batchSize: cfg.BatchSize},
		OffsetsAdapter:   offsetsAdapter,
		InitializeSchema: false,
	}, logger)
}

var offsetsAdapter = wsql.DefaultPostgreSQLOffsetsAdapter{
	GenerateMessagesOffsetsTableName: func(string) string { return "subscription_offsets" },
}

// eventsSchema is the Watermill schema adapter for the events table.
type eventsSchema struct {
	batchSize int
}

var _ wsql.SchemaAdapter = eventsSchema{}

func (eventsSchema) SchemaInitializingQueries(string) []wsql.Query { return nil }

// InsertQuery is never used: events are appended by the event store, inside
// the command's transaction.
func (eventsSchema) InsertQuery(string, message.Messages) (wsql.Query, error) {
	return wsql.Query{}, errors.New("events are appended through the event store, not published")
}

func (s eventsSchema) SelectQuery(topic, consumerGroup string, offsets wsql.OffsetsAdapter) wsql.Query {
	next := offsets.NextOffsetQuery(topic, consumerGroup)
	batch := s.batchSize
	if batch <= 0 {
		batch = 100
	}
	// Watermill's own query writes "after the last acknowledged event" as
	// (same transaction and later position) OR (later transaction); the
	// planner then reads and sorts every pending event to return a batch,
	// so a subscriber that falls behind slows down. The same condition as a
	// row comparison is an index range scan that stops after one batch.
	return wsql.Query{Query: `
	WITH last_processed AS (` + next.Query + `)
	SELECT position, transaction_id, ` + eventColumnsWithoutPosition + ` FROM events
	WHERE (transaction_id, position) > (
			(SELECT last_processed_transaction_id FROM last_processed),
			(SELECT offset_acked FROM last_processed))
		AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY transaction_id, position
	LIMIT ` + strconv.Itoa(batch), Args: next.Args}
}

const eventColumnsWithoutPosition = `event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash`

func (eventsSchema) UnmarshalMessage(row wsql.Scanner) (wsql.Row, error) {
	var rec ledger.RecordedEvent
	var transactionID int64
	var data, meta []byte
	if err := row.Scan(&rec.Position, &transactionID, &rec.EventID, &rec.StreamID, &rec.StreamType, &rec.StreamVersion,
		&rec.Type, &data, &meta, &rec.RecordedAt, &rec.Hash); err != nil {
		return wsql.Row{}, fmt.Errorf("scan event: %w", err)
	}
	if err := json.Unmarshal(meta, &rec.Metadata); err != nil {
		return wsql.Row{}, fmt.Errorf("event %d metadata: %w", rec.Position, err)
	}
	rec.Data = data
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
	}
	return wsql.Row{
		Offset: rec.Position, UUID: []byte(msg.UUID), Payload: data, Metadata: meta, Msg: msg,
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
