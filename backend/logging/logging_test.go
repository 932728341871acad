package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestRecordsCarryTheContextsCorrelationID(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo).With("component", "test")
	log.InfoContext(WithCorrelation(context.Background(), "corr-1"), "paid", "amount", "1.00")
	log.InfoContext(context.Background(), "no request")
	log.Debug("below the level")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var first, second map[string]any
	json.Unmarshal(lines[0], &first)
	json.Unmarshal(lines[1], &second)
	if first["correlation_id"] != "corr-1" || first["component"] != "test" || first["amount"] != "1.00" {
		t.Fatalf("first line %v", first)
	}
	if _, ok := second["correlation_id"]; ok {
		t.Fatalf("a line without a correlated context has a correlation id: %v", second)
	}
}
