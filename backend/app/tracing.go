package app

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// tracer starts the use cases' spans. It asks the global provider at each
// span, so that the provider installed at start (or none: the no-op one)
// is the one used.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/reimbursement-ledger/ledger/backend/app")
}

// startSpan starts the span of a use case, named like "app.Submit", with
// the command's correlation id; end records the use case's error, if any,
// and ends it:
//
//	ctx, end := startSpan(ctx, "app.Submit", cmd.Meta)
//	defer func() { end(err) }()
func startSpan(ctx context.Context, name string, meta ledger.Metadata) (context.Context, func(error)) {
	ctx, span := tracer().Start(ctx, name, trace.WithAttributes(attribute.String("ledger.correlation_id", meta.CorrelationID)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
