// Package tracing installs the OpenTelemetry tracer provider: when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, spans are batched and exported over
// OTLP/HTTP (the exporter reads the other standard OTEL_EXPORTER_OTLP_*
// variables itself); when it is not, nothing is installed and the global
// provider stays OpenTelemetry's no-op one, so the spans the packages start
// cost next to nothing.
//
// The packages that start spans import only the OpenTelemetry API; the SDK
// and the exporter are this package's alone. Every span carries the
// correlation id (CorrelationID) that the logs carry, so one id finds a
// request's spans and its log lines, and the spans of the projectors and
// sagas that handled its events later.
package tracing

import (
	"context"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ServiceName is the service.name of the ledger's spans.
const ServiceName = "reimbursement-ledger"

// CorrelationID is the attribute that carries the correlation id on every
// span the ledger starts; CorrelationIDs, on a span that stands for the
// work of several (a shared append, a projector's batch), lists them.
const (
	CorrelationID  = attribute.Key("ledger.correlation_id")
	CorrelationIDs = attribute.Key("ledger.correlation_ids")
)

// Config is what Setup needs.
type Config struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT; empty leaves tracing off.
	Endpoint string
	// Role is the process's role (api, worker, all), the ledger.role of its
	// resource.
	Role string
	// Version is the service.version, when known.
	Version string
}

// FromEnv reads the configuration from the environment.
func FromEnv(role string) Config {
	return Config{Endpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), Role: role}
}

// Enabled reports whether Setup would install a provider.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// Setup installs the global tracer provider and propagator when cfg is
// enabled. The returned shutdown flushes the spans still batched and stops
// the exporter; it is never nil and does nothing when tracing is off.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	if !cfg.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	// The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS,
	// _TIMEOUT, _TRACES_ENDPOINT...) itself.
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", ServiceName),
		attribute.String("ledger.role", cfg.Role),
	}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	// resource.Default reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME;
	// the ledger's own attributes come after them, so they win.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}
