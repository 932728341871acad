// Package metrics exposes the ledger's Prometheus metrics: request
// durations, events appended, each subscriber's position, lag, outcomes and
// health, the dead letters waiting, and the database pool.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reimbursement-ledger/ledger/backend/app"
)

// Sources are what the metrics read at each scrape (cmd/ledger wires
// backend/postgres's stores into them).
type Sources struct {
	// Pool is the connection pool whose statistics are reported.
	Pool *sql.DB
	// Subscriptions report each consumer group's position and lag.
	Subscriptions Subscriptions
	// Deliveries report the oldest webhook delivery waiting per endpoint.
	Deliveries app.WebhookQueue
	// DeadLetters count the dead letters waiting.
	DeadLetters app.DeadLetters
}

// Subscriptions report where the consumer groups stand.
type Subscriptions interface {
	// Statuses reports every consumer group's position and lag; reads
	// names, for a group that reads only some types, those types.
	Statuses(ctx context.Context, groups []string, reads map[string][]string) ([]app.SubscriberStatus, error)
}

// Metrics holds the ledger's collectors and their registry.
type Metrics struct {
	registry        *prometheus.Registry
	requestDuration *prometheus.HistogramVec
	eventsAppended  *prometheus.CounterVec
	handled         *prometheus.CounterVec
	failed          *prometheus.CounterVec
	retried         *prometheus.CounterVec
	parked          *prometheus.CounterVec
	halted          *prometheus.GaugeVec
	stalled         *prometheus.GaugeVec
	webhooks        *prometheus.CounterVec
	achFiles        prometheus.Counter
	achEntries      *prometheus.CounterVec
	achRuns         *prometheus.CounterVec
}

// New registers the ledger's metrics over src; groups are the consumer
// groups whose position and lag are reported at each scrape.
func New(src Sources, groups []string, reads map[string][]string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ledger_http_request_duration_seconds", Help: "HTTP request duration by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method", "status"}),
		eventsAppended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_events_appended_total", Help: "Events committed to the event store, by type.",
		}, []string{"type"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_subscriber_handled_total", Help: "Events a subscriber handled successfully.",
		}, []string{"group"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_subscriber_failed_total", Help: "Handler attempts that failed (the event is retried).",
		}, []string{"group"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_subscriber_retried_total", Help: "Retries of a failed handler, with backoff.",
		}, []string{"group"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_subscriber_parked_total", Help: "Events a saga gave up on after repeated failures and parked as dead letters.",
		}, []string{"group"}),
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledger_subscriber_halted", Help: "1 while a projector keeps failing on an event (it never skips one) and retries it only slowly.",
		}, []string{"group"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledger_subscriber_stalled", Help: "1 while a subscriber's position has not moved for the stall threshold although events wait.",
		}, []string{"group"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_webhook_deliveries_total", Help: "Webhook delivery attempts by outcome: succeeded, retrying, or failed for good (the endpoint is disabled).",
		}, []string{"outcome"}),
		achFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ledger_ach_files_published_total", Help: "NACHA files put in the ACH outbox.",
		}),
		achEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_ach_entries_total", Help: "ACH entries by outcome: sent (in a published file), settled, returned, problem (a return or notification of change that could not be applied: an unknown trace number, ...).",
		}, []string{"outcome"}),
		achRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_ach_failures_total", Help: "ACH runs that failed (cutoff, returns: taken up by the next run) and return files rejected as malformed (rejected_file).",
		}, []string{"kind"}),
	}
	for _, outcome := range []string{"sent", "settled", "returned", "problem"} {
		m.achEntries.WithLabelValues(outcome)
	}
	for _, kind := range []string{"cutoff", "returns", "rejected_file"} {
		m.achRuns.WithLabelValues(kind)
	}
	for _, outcome := range []string{"succeeded", "retrying", "failed"} {
		m.webhooks.WithLabelValues(outcome)
	}
	for _, g := range groups {
		m.halted.WithLabelValues(g)
		m.stalled.WithLabelValues(g)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(src.Pool, "ledger"),
		m.requestDuration, m.eventsAppended, m.handled, m.failed, m.retried, m.parked, m.halted, m.stalled, m.webhooks,
		m.achFiles, m.achEntries, m.achRuns,
		&subscribers{src: src, groups: groups, reads: reads},
	)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.requestDuration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// EventsAppended counts events that committed.
func (m *Metrics) EventsAppended(types []string) {
	for _, t := range types {
		m.eventsAppended.WithLabelValues(t).Inc()
	}
}

// HandlerDone records the outcome of one handler attempt.
func (m *Metrics) HandlerDone(group string, err error) {
	if err != nil {
		m.failed.WithLabelValues(group).Inc()
		return
	}
	m.handled.WithLabelValues(group).Inc()
}

// HandlerRetried records one retry.
func (m *Metrics) HandlerRetried(group string) {
	m.retried.WithLabelValues(group).Inc()
}

// EventParked counts an event parked as a dead letter.
func (m *Metrics) EventParked(group string) {
	m.parked.WithLabelValues(group).Inc()
}

// SubscriberHalted records whether a projector is halted.
func (m *Metrics) SubscriberHalted(group string, halted bool) {
	m.halted.WithLabelValues(group).Set(gauge(halted))
}

// SubscriberStalled records whether a subscriber is stalled.
func (m *Metrics) SubscriberStalled(group string, stalled bool) {
	m.stalled.WithLabelValues(group).Set(gauge(stalled))
}

// WebhookDelivered counts one webhook delivery attempt by its outcome.
func (m *Metrics) WebhookDelivered(outcome string) {
	m.webhooks.WithLabelValues(outcome).Inc()
}

// ACHCutoff counts what an ACH cutoff published and settled, or its failure.
func (m *Metrics) ACHCutoff(files, entries, settled int, err error) {
	m.achFiles.Add(float64(files))
	m.achEntries.WithLabelValues("sent").Add(float64(entries))
	m.achEntries.WithLabelValues("settled").Add(float64(settled))
	if err != nil {
		m.achRuns.WithLabelValues("cutoff").Inc()
	}
}

// ACHReturns counts what a read of the ACH returns folder applied, what it
// could not, the files it rejected, or its failure.
func (m *Metrics) ACHReturns(returns, problems, rejected int, err error) {
	m.achEntries.WithLabelValues("returned").Add(float64(returns))
	m.achEntries.WithLabelValues("problem").Add(float64(problems))
	m.achRuns.WithLabelValues("rejected_file").Add(float64(rejected))
	if err != nil {
		m.achRuns.WithLabelValues("returns").Inc()
	}
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// subscribers reports each consumer group's position and lag at scrape time.
type subscribers struct {
	src    Sources
	groups []string
	reads  map[string][]string // the groups that read only some types: theirs
}

var (
	positionDesc   = prometheus.NewDesc("ledger_subscriber_position", "Position of the last event the subscriber acknowledged.", []string{"group"}, nil)
	headDesc       = prometheus.NewDesc("ledger_events_head_position", "Position of the newest event.", nil, nil)
	lagEventsDesc  = prometheus.NewDesc("ledger_subscriber_lag_events", "Events committed that the subscriber has not handled yet.", []string{"group"}, nil)
	lagSecondsDesc = prometheus.NewDesc("ledger_subscriber_lag_seconds", "Age of the oldest event the subscriber has not handled yet.", []string{"group"}, nil)
	webhookAgeDesc = prometheus.NewDesc("ledger_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery not yet delivered, per endpoint.", []string{"endpoint"}, nil)
	deadLetterDesc = prometheus.NewDesc("ledger_dead_letters", "Dead letters waiting for an operator (parked) or a worker (retrying).", []string{"group", "status"}, nil)
)

func (s *subscribers) Describe(ch chan<- *prometheus.Desc) {
	ch <- positionDesc
	ch <- headDesc
	ch <- lagEventsDesc
	ch <- lagSecondsDesc
	ch <- deadLetterDesc
	ch <- webhookAgeDesc
}

func (s *subscribers) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	statuses, err := s.src.Subscriptions.Statuses(ctx, s.groups, s.reads)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(positionDesc, err)
		return
	}
	for i, st := range statuses {
		if i == 0 {
			ch <- prometheus.MustNewConstMetric(headDesc, prometheus.GaugeValue, float64(st.Head))
		}
		ch <- prometheus.MustNewConstMetric(positionDesc, prometheus.GaugeValue, float64(st.Position), st.Group)
		ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(st.Lag), st.Group)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, st.LagSeconds, st.Group)
	}
	oldest, err := s.src.Deliveries.OldestPending(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(webhookAgeDesc, err)
	}
	for endpoint, at := range oldest {
		ch <- prometheus.MustNewConstMetric(webhookAgeDesc, prometheus.GaugeValue, time.Since(at).Seconds(), endpoint.String())
	}
	waiting, err := s.src.DeadLetters.Waiting(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(deadLetterDesc, err)
		return
	}
	// Zero for every group and status with none, so that an alert on
	// ledger_dead_letters{status="parked"} > 0 has a series to read.
	counts := map[[2]string]int64{}
	for _, c := range waiting {
		counts[[2]string{c.Group, string(c.Status)}] = c.Count
	}
	for _, g := range s.groups {
		for _, status := range []app.DeadLetterStatus{app.DeadLetterParked, app.DeadLetterRetrying} {
			key := [2]string{g, string(status)}
			ch <- prometheus.MustNewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(counts[key]), g, string(status))
			delete(counts, key)
		}
	}
	for key, n := range counts { // a group this process does not run
		ch <- prometheus.MustNewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(n), key[0], key[1])
	}
}
