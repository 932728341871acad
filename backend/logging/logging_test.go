package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// Stopping is no failure: an error that is only a cancellation is logged at
// debug; other errors, a passed deadline among them, stay errors.
func TestCancellationsAreLoggedAtDebug(t *testing.T) {
	cancelled := fmt.Errorf("could not begin tx for querying: %w", context.Canceled)
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		log := New(&buf, level).With("component", "watermill")
		log.Error("Error querying for message", "error", cancelled)
		log.Warn("poll cut short", "error", context.Canceled)
		log.Error("query failed", "error", fmt.Errorf("query: %w", context.DeadlineExceeded))
		log.Error("insert failed", "error", errors.New("unique violation"))
		var levels []string
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var m map[string]any
			json.Unmarshal(line, &m)
			levels = append(levels, fmt.Sprint(m["level"]))
		}
		want := "ERROR ERROR"
		if level == slog.LevelDebug {
			want = "DEBUG DEBUG ERROR ERROR"
		}
		if got := strings.Join(levels, " "); got != want {
			t.Errorf("at %s: levels %s, want %s:\n%s", level, got, want, buf.String())
		}
	}
}
