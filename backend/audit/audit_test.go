package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var key = Key("unit-test-key-0123456789-0123456789")

func content() Content {
	return Content{EventID: uuid.MustParse("01a2104b-6223-79c9-8d50-9d67ce0f8318"), StreamID: uuid.MustParse("01a2104b-6223-79c9-8d50-9d67ce0f8319"),
		StreamType: "reimbursement", StreamVersion: 1, Type: "ReimbursementSubmitted",
		Data: []byte(`{"amount":"1"}`), Metadata: []byte(`{"actor":"a"}`), RecordedAt: time.Date(2026, 11, 25, 1, 2, 3, 456000, time.UTC)}
}

func TestEventHashCoversEveryField(t *testing.T) {
	base := EventHash(content(), nil)
	if !bytes.Equal(base, EventHash(content(), nil)) || len(base) != HashSize {
		t.Fatal("the hash is not deterministic")
	}
	changes := map[string]func(*Content){
		"event id":   func(c *Content) { c.EventID = uuid.New() },
		"stream id":  func(c *Content) { c.StreamID = uuid.New() },
		"type":       func(c *Content) { c.Type = "ReimbursementApproved" },
		"version":    func(c *Content) { c.StreamVersion = 2 },
		"data":       func(c *Content) { c.Data = []byte(`{"amount":"2"}`) },
		"metadata":   func(c *Content) { c.Metadata = []byte(`{"actor":"b"}`) },
		"time":       func(c *Content) { c.RecordedAt = c.RecordedAt.Add(time.Microsecond) },
		"boundaries": func(c *Content) { c.StreamType, c.Type = "reimbursementR", "eimbursementSubmitted" },
	}
	for name, change := range changes {
		c := content()
		change(&c)
		if bytes.Equal(EventHash(c, nil), base) {
			t.Errorf("changing the %s leaves the hash unchanged", name)
		}
	}
	if bytes.Equal(EventHash(content(), base), base) {
		t.Error("the previous hash is not covered")
	}
}

func TestCheckpointSignatures(t *testing.T) {
	cp := key.Next(nil, 7, 100, EventHash(content(), nil), time.Now())
	if !key.Valid(cp) || cp.EventCount != 1 {
		t.Fatalf("a fresh checkpoint: valid %v, count %d", key.Valid(cp), cp.EventCount)
	}
	next := key.Next(&cp, 8, 101, EventHash(content(), nil), time.Now())
	if next.EventCount != 2 || bytes.Equal(next.RunningHash, cp.RunningHash) {
		t.Fatal("the next checkpoint does not extend the running hash")
	}
	forged := cp
	forged.EventCount = 5
	if key.Valid(forged) {
		t.Fatal("an altered checkpoint still verifies")
	}
	if Key("another-key-0123456789-0123456789").Valid(cp) {
		t.Fatal("another key verifies the checkpoint")
	}
	if _, err := NewKey("short"); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestCheckpointJSONRoundTrip(t *testing.T) {
	cp := key.Next(nil, 7, 1<<40, EventHash(content(), nil), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cp.ID = 3
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"transaction_id":"1099511627776"`) {
		t.Fatalf("JSON %s", b)
	}
	var back Checkpoint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !key.Valid(back) || back.ID != 3 || back.TransactionID != cp.TransactionID {
		t.Fatalf("round trip %+v", back)
	}
}

// memLog is a log held in memory, in commit order.
type memLog []StoredEvent

func (l memLog) EachEventInCommitOrder(ctx context.Context, fn func(StoredEvent) error) error {
	for _, e := range l {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// newLog builds a chained log of n events over two streams and its checkpoints.
func newLog(n int) (memLog, []Checkpoint) {
	var log memLog
	var cps []Checkpoint
	last := map[uuid.UUID]StoredEvent{}
	streams := []uuid.UUID{uuid.New(), uuid.New()}
	for i := range n {
		c := content()
		c.EventID, c.StreamID = uuid.New(), streams[i%2]
		prev, ok := last[c.StreamID]
		c.StreamVersion = prev.StreamVersion + 1
		var prevHash []byte
		if ok {
			prevHash = prev.Hash
		}
		e := StoredEvent{Content: c, Position: int64(i + 1), TransactionID: uint64(100 + i), Hash: EventHash(c, prevHash), PrevHash: prevHash}
		log, last[c.StreamID] = append(log, e), e
		var prevCP *Checkpoint
		if len(cps) > 0 {
			prevCP = &cps[len(cps)-1]
		}
		cp := key.Next(prevCP, e.Position, e.TransactionID, e.Hash, time.Now())
		cp.ID = int64(i + 1)
		cps = append(cps, cp)
	}
	return log, cps
}

func TestVerifyFindsTheFirstProblem(t *testing.T) {
	ctx := context.Background()
	log, cps := newLog(6)
	r, err := Verify(ctx, log, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)})
	if err != nil || !r.OK() || r.Events != 6 || r.Checkpoints != 6 || r.Streams != 2 {
		t.Fatalf("intact log: %+v %v", r, err)
	}
	// Events newer than the last checkpoint pass on their stream chains alone.
	if r, _ := Verify(ctx, log, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps[:4])}); !r.OK() || r.Checkpoints != 4 {
		t.Fatalf("log ahead of its checkpoints: %+v", r)
	}
	altered := append(memLog(nil), log...)
	altered[2].Data = []byte(`{"amount":"100"}`)
	if r, _ := Verify(ctx, altered, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)}); r.OK() || r.Problem.Position != 3 || !strings.Contains(r.Problem.Detail, "altered") {
		t.Fatalf("altered event: %+v", r.Problem)
	}
	// Rehashing the altered event and its successors fools the stream chain,
	// not the signed checkpoints.
	rehashed := append(memLog(nil), altered...)
	prev := map[uuid.UUID][]byte{}
	for i := range rehashed {
		rehashed[i].PrevHash = prev[rehashed[i].StreamID]
		rehashed[i].Hash = EventHash(rehashed[i].Content, rehashed[i].PrevHash)
		prev[rehashed[i].StreamID] = rehashed[i].Hash
	}
	if r, _ := Verify(ctx, rehashed, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)}); r.OK() || r.Problem.Position != 3 || !strings.Contains(r.Problem.Detail, "running hash") {
		t.Fatalf("rehashed log: %+v", r.Problem)
	}
	truncated := log[:4]
	if r, _ := Verify(ctx, truncated, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)}); r.OK() || r.Problem.Position != 5 || !strings.Contains(r.Problem.Detail, "newest events were removed") {
		t.Fatalf("truncated log: %+v", r.Problem)
	}
}

func TestVerifyNamesAnEventWithoutHash(t *testing.T) {
	log, cps := newLog(3)
	log[1].Hash = nil
	r, err := Verify(context.Background(), log, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)})
	if err != nil || r.OK() || r.Problem.Position != 2 || !strings.Contains(r.Problem.Detail, "no hash") {
		t.Fatalf("problem %+v, %v", r.Problem, err)
	}
}

// Verify reads the log once, in commit order: the first problem on the way
// is the one reported, whichever check finds it.
func TestVerifyReportsTheFirstProblemInCommitOrder(t *testing.T) {
	log, cps := newLog(6)
	intact := append([]Checkpoint(nil), cps...)
	log[4].Data = []byte(`{"amount":"100"}`) // position 5 altered
	cps[0].Signature = []byte("forged")      // the checkpoint of position 1
	r, err := Verify(context.Background(), log, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(cps)})
	if err != nil || r.OK() || r.Problem.Position != 1 || !strings.Contains(r.Problem.Detail, "invalid signature") {
		t.Fatalf("report %+v (problem %+v), %v; want the forged checkpoint at position 1", r, r.Problem, err)
	}
	if r, _ := Verify(context.Background(), log, Keys{HMAC: key}, Sources{Checkpoints: NewCheckpointList(intact)}); r.OK() ||
		r.Problem.Position != 5 || !strings.Contains(r.Problem.Detail, "altered") || r.Checkpoints != 4 {
		t.Fatalf("altered event: %+v (problem %+v); want position 5 named after 4 checkpoints", r, r.Problem)
	}
}
