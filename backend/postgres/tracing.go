package postgres

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes of the appends.
const (
	attrCorrelationID  = attribute.Key("ledger.correlation_id")
	attrCorrelationIDs = attribute.Key("ledger.correlation_ids")
	attrBatchSize      = attribute.Key("ledger.append.batch_size")
)

// tracer starts the event store's spans, with the global provider of the
// moment (the no-op one unless tracing is on).
func tracer() trace.Tracer {
	return otel.Tracer("github.com/reimbursement-ledger/ledger/backend/postgres")
}

// endSpan records err, if any, and ends span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startAppendSpan starts the span of one EventStore.Append.
func startAppendSpan(ctx context.Context, correlationID string, events int) (context.Context, trace.Span) {
	return tracer().Start(ctx, "postgres.EventStore.Append", trace.WithAttributes(
		attrCorrelationID.String(correlationID), attribute.Int("ledger.append.events", events)))
}

// startBatchSpan starts the span of a shared append's batch (ctx bounds
// the batch, not a request). The batch serves many requests: it is the
// child of the first submitter's span, links to the others', and lists
// every submitter's correlation id.
func startBatchSpan(ctx context.Context, batch []*sharedAppend) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(batch))
	ids := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for i, a := range batch {
		id := a.meta.CorrelationID
		if i > 0 && a.span.IsValid() {
			links = append(links, trace.Link{SpanContext: a.span, Attributes: []attribute.KeyValue{attrCorrelationID.String(id)}})
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	attrs := []attribute.KeyValue{attrBatchSize.Int(len(batch)), attrCorrelationIDs.StringSlice(ids)}
	if len(ids) > 0 {
		attrs = append(attrs, attrCorrelationID.String(ids[0])) // the parent's
	}
	if len(batch) > 0 && batch[0].span.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, batch[0].span)
	}
	return tracer().Start(ctx, "postgres.appendBatch", trace.WithLinks(links...), trace.WithAttributes(attrs...))
}
