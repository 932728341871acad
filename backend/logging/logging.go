// Package logging provides the ledger's structured logs: JSON lines through
// log/slog, each carrying the correlation id of the request or event that
// caused it, so that one grep follows a reimbursement from request to
// payment to e-mail.
package logging

import (
	"context"
	"errors"
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
// carry that context's correlation id. An error record whose error is only
// a cancellation is logged at debug (see cancellations).
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(correlated{cancellations{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})}})
}

// cancellations logs at debug the warnings and errors whose "error" is a
// context's cancellation: that is what stopping looks like (a poll or a
// query that the shutdown cut short, in Watermill's subscribers too, whose
// log lines we do not write), not a failure anyone should act on. A
// deadline that passed is still an error.
type cancellations struct{ slog.Handler }

func (h cancellations) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && cancelled(r) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r = r.Clone()
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h cancellations) WithAttrs(attrs []slog.Attr) slog.Handler {
	return cancellations{h.Handler.WithAttrs(attrs)}
}

func (h cancellations) WithGroup(name string) slog.Handler {
	return cancellations{h.Handler.WithGroup(name)}
}

// cancelled reports whether the record's "error" attribute is a context's
// cancellation.
func cancelled(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			err, ok := a.Value.Any().(error)
			found = ok && errors.Is(err, context.Canceled)
			return false
		}
		return true
	})
	return found
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
