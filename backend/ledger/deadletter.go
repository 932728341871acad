package ledger

import "time"

// DiscardDeadLetter decides the record of an operator discarding a dead
// letter: d names it and says why (a reason is required), version is the
// current version of its stream (0 the first time; an event parked again
// after a replay can be discarded again).
func DiscardDeadLetter(d DeadLetterDiscarded, version int64, now time.Time) (PendingEvent, error) {
	var v validation
	checkText(&v, "reason", d.Reason, MaxDescriptionLength)
	if err := v.err(); err != nil {
		return PendingEvent{}, err
	}
	d.DiscardedAt = now.UTC()
	return PendingEvent{StreamID: DeadLetterStreamID(d.ConsumerGroup, d.EventID), StreamType: StreamDeadLetter,
		Version: version + 1, Event: d}, nil
}
