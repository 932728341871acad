package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// One submission over HTTP makes the spans that follow it from the request
// to the projector, all carrying its correlation id: the request's, the
// use case's (its child), the append's and the shared append batch's (with
// its size), and the projector batch's that read the event.
//
// The test provider is the process's global one while the test runs; the
// package's tests do not run in parallel.
func TestOneSubmissionIsTracedFromRequestToProjector(t *testing.T) {
	a := newAPI(t)
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	previous := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(previous)
		tp.Shutdown(t.Context())
	})

	const id = "trace-test-submission-1"
	a.post("/v1/reimbursements", `{"bank_account_id":"`+a.dir.Account.ID.String()+`","amount":"12.50","description":"Taxi to the branch"}`,
		"X-Correlation-ID", id).want(t, http.StatusCreated)

	// carries reports whether a span names the correlation id, alone or
	// among the ids of a batch.
	carries := func(s tracetest.SpanStub) bool {
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "ledger.correlation_id":
				if kv.Value.AsString() == id {
					return true
				}
			case "ledger.correlation_ids":
				if slices.Contains(kv.Value.AsStringSlice(), id) {
					return true
				}
			}
		}
		return false
	}
	find := func(name string) (tracetest.SpanStub, bool) {
		for _, s := range exporter.GetSpans() {
			if s.Name == name && carries(s) {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	const projector = "worker.projector.reimbursements"
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := find(projector); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s span carries %s; spans: %v", projector, id, names(exporter.GetSpans()))
		}
		time.Sleep(20 * time.Millisecond)
	}

	must := func(name string) tracetest.SpanStub {
		t.Helper()
		s, ok := find(name)
		if !ok {
			t.Fatalf("no %s span carries %s; spans: %v", name, id, names(exporter.GetSpans()))
		}
		return s
	}
	request := must("POST /v1/reimbursements")
	useCase := must("app.Submit")
	appendSpan := must("postgres.EventStore.Append")
	batch := must("postgres.appendBatch")
	projected := must(projector)

	if request.SpanKind != trace.SpanKindServer {
		t.Errorf("the request's span is of kind %s", request.SpanKind)
	}
	if got := attr(request, "http.response.status_code"); got.AsInt64() != http.StatusCreated {
		t.Errorf("the request's span has status code %v", got.Emit())
	}
	if got := attr(request, "http.route"); got.AsString() != "/v1/reimbursements" {
		t.Errorf("the request's span has route %q", got.AsString())
	}
	if request.Status.Code == codes.Error {
		t.Errorf("a 201's span has status %v", request.Status)
	}
	childOf := func(child, parent tracetest.SpanStub) {
		t.Helper()
		if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
			t.Errorf("%s is not a child of %s", child.Name, parent.Name)
		}
	}
	childOf(useCase, request)
	childOf(appendSpan, useCase)
	// Alone, the submission's event is its batch's first: the batch's span
	// descends from its append.
	childOf(batch, appendSpan)
	if n := attr(batch, "ledger.append.batch_size").AsInt64(); n < 1 {
		t.Errorf("the append batch's size is %d", n)
	}
	if n := attr(projected, "ledger.batch.size").AsInt64(); n < 1 {
		t.Errorf("the projector batch's size is %d", n)
	}
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
