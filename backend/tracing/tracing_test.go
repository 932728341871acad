package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/reimbursement-ledger/ledger/backend/tracing"
)

// restoreGlobals puts back the global provider and propagator the test
// replaces.
func restoreGlobals(t *testing.T) {
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
}

// Without an endpoint nothing is installed: the spans are the no-op
// provider's, which record nothing.
func TestOffWithoutAnEndpoint(t *testing.T) {
	before := otel.GetTracerProvider()
	shutdown, err := tracing.Setup(t.Context(), tracing.Config{Role: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Fatal("a provider was installed without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	_, span := otel.Tracer("test").Start(t.Context(), "nothing")
	if span.IsRecording() {
		t.Error("a span records with tracing off")
	}
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// With an endpoint the SDK is installed, and the spans reach the endpoint
// over OTLP/HTTP, at the latest when the provider shuts down.
func TestExportsOverOTLPHTTP(t *testing.T) {
	restoreGlobals(t)
	var mu sync.Mutex
	var paths []string
	var sizes []int
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths, sizes = append(paths, r.URL.Path), append(sizes, len(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	cfg := tracing.FromEnv("api")
	shutdown, err := tracing.Setup(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Fatalf("the provider is a %T", otel.GetTracerProvider())
	}
	_, span := otel.Tracer("test").Start(context.Background(), "work")
	if !span.SpanContext().IsValid() || !span.IsRecording() {
		t.Fatal("the span does not record")
	}
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/v1/traces" || sizes[0] == 0 {
		t.Fatalf("the collector received %v (%v bytes); want the span at /v1/traces", paths, sizes)
	}
}
