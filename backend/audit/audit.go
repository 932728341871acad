// Package audit makes the event log tamper-evident: it hashes each event's
// canonical content into a chain per stream, signs checkpoints of a running
// hash over the commit order, and verifies both.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Content is what an event's hash covers: everything stored about it except
// its position and transaction id, which the checkpoints cover.
type Content struct {
	EventID       uuid.UUID
	StreamID      uuid.UUID
	StreamType    string
	StreamVersion int64
	Type          string
	Data          []byte // the stored JSON text, byte for byte
	Metadata      []byte // the stored JSON text, byte for byte
	RecordedAt    time.Time
}

// HashSize is the length of every hash.
const HashSize = sha256.Size

// EventHash is SHA-256 over the event's canonical content and the hash of
// the previous event of its stream (nil for the first). Every field is
// length-prefixed, so no two different events encode alike.
func EventHash(c Content, prev []byte) []byte {
	h := sha256.New()
	h.Write([]byte("ledger-event-v1"))
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var version [8]byte
	binary.BigEndian.PutUint64(version[:], uint64(c.StreamVersion))
	field(c.EventID[:])
	field(c.StreamID[:])
	field([]byte(c.StreamType))
	field(version[:])
	field([]byte(c.Type))
	field(c.Data)
	field(c.Metadata)
	field([]byte(c.RecordedAt.UTC().Format(time.RFC3339Nano)))
	field(prev)
	return h.Sum(nil)
}

// GenesisHash is the running hash before the first event.
var GenesisHash = make([]byte, HashSize)

// RunningHash extends the running hash over the commit order by one event.
func RunningHash(running, eventHash []byte) []byte {
	h := sha256.New()
	h.Write([]byte("ledger-chain-v1"))
	h.Write(running)
	h.Write(eventHash)
	return h.Sum(nil)
}

// Checkpoint says: up to and including the event at (TransactionID,
// Position) in commit order there were EventCount events, whose running hash
// is RunningHash. Signature is an HMAC over all of it.
type Checkpoint struct {
	ID            int64
	Position      int64
	TransactionID uint64
	EventCount    int64
	RunningHash   []byte
	Signature     []byte
	RecordedAt    time.Time
}

// checkpointJSON is the one JSON form of a checkpoint: in API answers, in
// exported files and when an exported file is read back.
type checkpointJSON struct {
	ID            int64     `json:"id"`
	Position      int64     `json:"position"`
	TransactionID string    `json:"transaction_id"`
	EventCount    int64     `json:"event_count"`
	RunningHash   string    `json:"running_hash"`
	Signature     string    `json:"signature"`
	RecordedAt    time.Time `json:"recorded_at"`
}

// MarshalJSON writes hashes in hex and the transaction id as a string.
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointJSON{ID: c.ID, Position: c.Position, TransactionID: strconv.FormatUint(c.TransactionID, 10),
		EventCount: c.EventCount, RunningHash: hex.EncodeToString(c.RunningHash), Signature: hex.EncodeToString(c.Signature),
		RecordedAt: c.RecordedAt})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Checkpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	txid, err := strconv.ParseUint(j.TransactionID, 10, 64)
	if err != nil {
		return fmt.Errorf("checkpoint %d: transaction_id: %w", j.ID, err)
	}
	running, err := hex.DecodeString(j.RunningHash)
	if err != nil {
		return fmt.Errorf("checkpoint %d: running_hash: %w", j.ID, err)
	}
	sig, err := hex.DecodeString(j.Signature)
	if err != nil {
		return fmt.Errorf("checkpoint %d: signature: %w", j.ID, err)
	}
	*c = Checkpoint{ID: j.ID, Position: j.Position, TransactionID: txid, EventCount: j.EventCount,
		RunningHash: running, Signature: sig, RecordedAt: j.RecordedAt}
	return nil
}

// Key signs and checks checkpoints. It comes from the environment
// (AUDIT_KEY), never from the database.
type Key []byte

// MinKeyLength is the shortest AUDIT_KEY accepted.
const MinKeyLength = 32

// ErrKeyTooShort is returned for an AUDIT_KEY under MinKeyLength bytes.
var ErrKeyTooShort = errors.New("AUDIT_KEY must be at least 32 characters")

// NewKey checks and returns a signing key.
func NewKey(secret string) (Key, error) {
	if len(secret) < MinKeyLength {
		return nil, ErrKeyTooShort
	}
	return Key(secret), nil
}

func (k Key) mac(c Checkpoint) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("ledger-checkpoint-v1"))
	var n [24]byte
	binary.BigEndian.PutUint64(n[0:], uint64(c.Position))
	binary.BigEndian.PutUint64(n[8:], c.TransactionID)
	binary.BigEndian.PutUint64(n[16:], uint64(c.EventCount))
	m.Write(n[:])
	m.Write(c.RunningHash)
	return m.Sum(nil)
}

// Sign sets the checkpoint's signature.
func (k Key) Sign(c Checkpoint) Checkpoint {
	c.Signature = k.mac(c)
	return c
}

// Valid reports whether the checkpoint's signature is the key's.
func (k Key) Valid(c Checkpoint) bool {
	return hmac.Equal(c.Signature, k.mac(c))
}

// Next returns the signed checkpoint that follows prev (nil before the first
// event) with one more event.
func (k Key) Next(prev *Checkpoint, position int64, transactionID uint64, eventHash []byte, now time.Time) Checkpoint {
	running, count := GenesisHash, int64(0)
	if prev != nil {
		running, count = prev.RunningHash, prev.EventCount
	}
	return k.Sign(Checkpoint{
		Position: position, TransactionID: transactionID, EventCount: count + 1,
		RunningHash: RunningHash(running, eventHash), RecordedAt: now,
	})
}

func equal(a, b []byte) bool { return bytes.Equal(a, b) }

// CheckpointList yields checkpoints from a slice, such as an exported copy.
type CheckpointList struct {
	items []Checkpoint
}

// NewCheckpointList returns a Checkpoints over cps, in their order.
func NewCheckpointList(cps []Checkpoint) *CheckpointList { return &CheckpointList{items: cps} }

// Next returns the next checkpoint, nil at the end.
func (l *CheckpointList) Next(context.Context) (*Checkpoint, error) {
	if len(l.items) == 0 {
		return nil, nil
	}
	cp := l.items[0]
	l.items = l.items[1:]
	return &cp, nil
}

// Record turns a decided event into the event to store: its data encoded,
// a new time-ordered id, and its hash over its content (metaJSON is the
// metadata as stored) and its stream's previous hash. Every event store
// records through it, so that Verify accepts what any of them stored.
func Record(meta ledger.Metadata, metaJSON []byte, e ledger.PendingEvent, prevHash []byte, now time.Time) (ledger.RecordedEvent, error) {
	data, err := json.Marshal(e.Event)
	if err != nil {
		return ledger.RecordedEvent{}, fmt.Errorf("encode %s: %w", e.Event.EventType(), err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return ledger.RecordedEvent{}, err
	}
	rec := ledger.RecordedEvent{
		EventID: id, StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.Version,
		Type: e.Event.EventType(), Data: data, Metadata: meta, RecordedAt: now, PrevHash: prevHash,
	}
	rec.Hash = EventHash(Content{
		EventID: rec.EventID, StreamID: rec.StreamID, StreamType: rec.StreamType, StreamVersion: rec.StreamVersion,
		Type: rec.Type, Data: data, Metadata: metaJSON, RecordedAt: now,
	}, prevHash)
	return rec, nil
}
