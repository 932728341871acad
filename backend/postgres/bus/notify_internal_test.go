package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// After a batch that emptied the backlog a subscriber lets the next
// commits gather; after a full batch it reads again at once,
// and after an error it waits its retry interval.
func TestWakingBackoffLingersAfterABatchThatEmptiedTheBacklog(t *testing.T) {
	b := NewWakingBackoff(NewNotifier(), time.Second, 2*time.Second, make(chan struct{})).(*wakingBackoff)
	full := false
	b.watchBatches(func() bool { return full })
	logger := watermill.NopLogger{}
	if d := b.HandleError(logger, false, nil); d != gather {
		t.Fatalf("after a batch that emptied the backlog: wait %v, want %v", d, gather)
	}
	full = true
	if d := b.HandleError(logger, false, nil); d != 0 {
		t.Fatalf("after a full batch: wait %v, want none", d)
	}
	if d := b.HandleError(logger, false, errors.New("connection reset")); d != 2*time.Second {
		t.Fatalf("after an error: wait %v, want the retry interval", d)
	}
}
