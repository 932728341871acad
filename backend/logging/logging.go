// Package logging provides the ledger's structured logs: JSON lines through
// log/slog, each carrying the correlation id of the request or event that
// caused it, so that one grep follows a reimbursement from request to
// payment to e-mail.
package logging

import (
	"context"
	"io"
	"log/slog"
)

type correlationKey struct{}

// WithCorrelation returns ctx carrying a correlation id for log lines.
func WithCorrelation(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation id ctx carries, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// New returns a JSON logger at level whose records logged with a context
// carry that context's correlation id.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(correlated{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// correlated adds correlation_id from the record's context.
type correlated struct{ slog.Handler }

func (h correlated) Handle(ctx context.Context, r slog.Record) error {
	if id := CorrelationID(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h correlated) WithAttrs(attrs []slog.Attr) slog.Handler {
	return correlated{h.Handler.WithAttrs(attrs)}
}

func (h correlated) WithGroup(name string) slog.Handler {
	return correlated{h.Handler.WithGroup(name)}
}
