package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// An export of the log (`ledger audit export --to DIR`) holds the events
// in commit order, one JSON object a line, with their content exactly as
// hashed, and the signed heads. VerifyCommitOrder checks it with the public
// key alone.

// exportedEvent is the JSON form of an exported event: data and metadata
// are the stored JSON texts as strings, byte for byte, since the hash covers
// those bytes; hashes are hex, as in the API's feed.
type exportedEvent struct {
	Position      int64     `json:"position"`
	TransactionID string    `json:"transaction_id"`
	EventID       uuid.UUID `json:"event_id"`
	StreamID      uuid.UUID `json:"stream_id"`
	StreamType    string    `json:"stream_type"`
	StreamVersion int64     `json:"stream_version"`
	Type          string    `json:"type"`
	Data          string    `json:"data"`
	Metadata      string    `json:"metadata"`
	RecordedAt    time.Time `json:"recorded_at"`
	Hash          string    `json:"hash"`
	PrevHash      *string   `json:"prev_hash"`
}

// MarshalJSON writes the event as an export holds it.
func (e StoredEvent) MarshalJSON() ([]byte, error) {
	out := exportedEvent{Position: e.Position, TransactionID: strconv.FormatUint(e.TransactionID, 10), EventID: e.EventID,
		StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.StreamVersion, Type: e.Type,
		Data: string(e.Data), Metadata: string(e.Metadata), RecordedAt: e.RecordedAt.UTC(), Hash: hex.EncodeToString(e.Hash)}
	if e.PrevHash != nil {
		prev := hex.EncodeToString(e.PrevHash)
		out.PrevHash = &prev
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *StoredEvent) UnmarshalJSON(b []byte) error {
	var in exportedEvent
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	txid, err := strconv.ParseUint(in.TransactionID, 10, 64)
	if err != nil {
		return fmt.Errorf("event %d: transaction_id %q: %w", in.Position, in.TransactionID, err)
	}
	hash, err := hex.DecodeString(in.Hash)
	if err != nil {
		return fmt.Errorf("event %d: hash: %w", in.Position, err)
	}
	var prev []byte
	if in.PrevHash != nil {
		if prev, err = hex.DecodeString(*in.PrevHash); err != nil {
			return fmt.Errorf("event %d: prev_hash: %w", in.Position, err)
		}
	}
	*e = StoredEvent{Content: Content{EventID: in.EventID, StreamID: in.StreamID, StreamType: in.StreamType,
		StreamVersion: in.StreamVersion, Type: in.Type, Data: []byte(in.Data), Metadata: []byte(in.Metadata), RecordedAt: in.RecordedAt},
		Position: in.Position, TransactionID: txid, Hash: hash, PrevHash: prev}
	return nil
}

// VerifyCommitOrder checks a log read in commit order in one pass, as an
// export holds it: see Verify. heads are the export's heads and the ones an
// auditor stored, merged by size. each calls its argument for every event
// in order.
func VerifyCommitOrder(ctx context.Context, each func(fn func(StoredEvent) error) error, keys PublicKeys, heads Heads) (Report, error) {
	return Verify(ctx, commitOrder(each), Keys{Public: keys}, Sources{Heads: heads})
}

// commitOrder is a Store over a function that reads events in commit order.
type commitOrder func(fn func(StoredEvent) error) error

func (c commitOrder) EachEventInCommitOrder(_ context.Context, fn func(StoredEvent) error) error {
	return c(fn)
}
