package worker

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The worker's spans: "worker.<group>" for each batch a projector, the
// audit tree or the webhooks' group applies (worker.projector.reimbursements,
// worker.audit.tree, ...), "saga.<name>" for each event a saga handles
// (saga.payments, saga.notifications: the group's name). They start no trace of the request's: the events carry
// its correlation id, which every span lists (ledger.correlation_id, and
// for a batch every distinct one in ledger.correlation_ids).
func tracer() trace.Tracer {
	return otel.Tracer("github.com/reimbursement-ledger/ledger/backend/worker")
}

// startBatchSpan starts the span of a group's batch.
func startBatchSpan(ctx context.Context, group string, events []ledger.RecordedEvent) (context.Context, trace.Span) {
	var ids []string
	seen := map[string]bool{}
	for _, e := range events {
		if id := e.Metadata.CorrelationID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	attrs := []attribute.KeyValue{
		attribute.String("ledger.group", group),
		attribute.Int("ledger.batch.size", len(events)),
		attribute.StringSlice("ledger.correlation_ids", ids),
	}
	if len(events) > 0 {
		attrs = append(attrs, attribute.String("ledger.correlation_id", events[0].Metadata.CorrelationID),
			attribute.Int64("ledger.batch.first_position", events[0].Position),
			attribute.Int64("ledger.batch.last_position", events[len(events)-1].Position))
	}
	return tracer().Start(ctx, "worker."+group, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// startEventSpan starts the span of a saga's call on one event.
func startEventSpan(ctx context.Context, group string, e ledger.RecordedEvent) (context.Context, trace.Span) {
	// The sagas' groups are named "saga.<name>" already.
	name := group
	if !strings.HasPrefix(name, "saga.") {
		name = "saga." + name
	}
	return tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("ledger.group", group),
		attribute.String("ledger.correlation_id", e.Metadata.CorrelationID),
		attribute.String("ledger.event.type", e.Type),
		attribute.String("ledger.event.id", e.EventID.String()),
		attribute.Int64("ledger.event.position", e.Position),
	))
}

// endSpan records err, if any, and ends span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
