package httpapi

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracer starts the requests' spans, with the global provider of the moment
// (the no-op one unless tracing is on: then a request costs a span that
// records nothing).
func tracer() trace.Tracer {
	return otel.Tracer("github.com/reimbursement-ledger/ledger/backend/httpapi")
}

// trace makes each request a server span, "<METHOD> <route>", the parent of
// the use case's: a continuation of the caller's trace when the request
// carries a traceparent header (and tracing is on), with the request's
// correlation id. It runs after correlate and outside logRequests, which
// turns an error into its answer, so the status is the one sent. A 5xx
// sets the span's status to error.
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := otel.GetTextMapPropagator().Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		route := c.Path()
		name := req.Method + " " + route
		if route == "" {
			name = req.Method
		}
		ctx, span := tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", req.URL.Path),
			attribute.String("url.scheme", scheme(req)),
			attribute.String("server.address", req.Host),
			attribute.String("user_agent.original", req.UserAgent()),
			attribute.String("ledger.correlation_id", correlationID(c)),
		))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if err != nil {
			span.RecordError(err)
		}
		if status >= 500 {
			span.SetStatus(codes.Error, fmt.Sprintf("%d %s", status, http.StatusText(status)))
		}
		return err
	}
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
