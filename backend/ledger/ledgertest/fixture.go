// Package ledgertest holds events as the ledger once stored them, for the
// tests of every layer that must still read them.
package ledgertest

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

//go:embed testdata/events-before-lifecycle.json
var eventsBeforeLifecycle []byte

// StoredEvent is one event as the ledger stored it: Record is the event at
// its position, hashes decoded; Metadata is the exact stored text the hash
// covers.
type StoredEvent struct {
	Record   ledger.RecordedEvent
	Metadata string
}

// EventsBeforeLifecycle is testdata/events-before-lifecycle.json: the story
// of four reimbursements (paid, denied, payment failed, pending) as the
// ledger stored it before any event type had a second schema version, data
// and metadata kept as the exact text the hashes cover. Positions count
// from 1 in the file's order.
func EventsBeforeLifecycle(t testing.TB) []StoredEvent {
	t.Helper()
	var file []struct {
		EventID       uuid.UUID `json:"event_id"`
		StreamID      uuid.UUID `json:"stream_id"`
		StreamType    string    `json:"stream_type"`
		StreamVersion int64     `json:"stream_version"`
		Type          string    `json:"type"`
		Data          string    `json:"data"`
		Metadata      string    `json:"metadata"`
		RecordedAt    time.Time `json:"recorded_at"`
		Hash          string    `json:"hash"`
		PrevHash      string    `json:"prev_hash"`
	}
	if err := json.Unmarshal(eventsBeforeLifecycle, &file); err != nil {
		t.Fatal(err)
	}
	out := make([]StoredEvent, len(file))
	for i, s := range file {
		rec := ledger.RecordedEvent{Position: int64(i + 1), EventID: s.EventID, StreamID: s.StreamID, StreamType: s.StreamType,
			StreamVersion: s.StreamVersion, Type: s.Type, Data: json.RawMessage(s.Data), RecordedAt: s.RecordedAt}
		if err := json.Unmarshal([]byte(s.Metadata), &rec.Metadata); err != nil {
			t.Fatal(err)
		}
		var err error
		if rec.Hash, err = hex.DecodeString(s.Hash); err != nil {
			t.Fatal(err)
		}
		if s.PrevHash != "" {
			if rec.PrevHash, err = hex.DecodeString(s.PrevHash); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = StoredEvent{Record: rec, Metadata: s.Metadata}
	}
	return out
}
