package worker_test

import (
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

// An approval's events are handled in spans that carry its correlation id:
// the projector's batch with its size, and the payment saga's call with the
// event it handled. (The test provider is global while the test runs; the
// package's tests do not run in parallel.)
func TestSagaCallsAndBatchesAreSpansWithTheCorrelationID(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	previous := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(previous)
		tp.Shutdown(t.Context())
	})
	startWorker(t, db, &sagatest.Gateway{}, &sagatest.Mailer{})

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	corr := "corr-" + t.Name()
	find := func(name string) (tracetest.SpanStub, bool) {
		for _, s := range exporter.GetSpans() {
			if s.Name == name && (value(s, "ledger.correlation_id").AsString() == corr ||
				slices.Contains(value(s, "ledger.correlation_ids").AsStringSlice(), corr)) {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	postgrestest.Eventually(t, "the payment saga's span", func() bool { _, ok := find("saga.payments"); return ok })
	postgrestest.Eventually(t, "the projector's span", func() bool { _, ok := find("worker.projector.reimbursements"); return ok })

	saga, _ := find("saga.payments")
	if ty := value(saga, "ledger.event.type").AsString(); ty == "" {
		t.Errorf("the saga's span names no event type: %v", saga.Attributes)
	}
	batch, _ := find("worker.projector.reimbursements")
	if n := value(batch, "ledger.batch.size").AsInt64(); n < 1 {
		t.Errorf("the projector batch's size is %d", n)
	}
}

func value(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}
