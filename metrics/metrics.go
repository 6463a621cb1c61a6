package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the relay's own Prometheus registry (never the global one)
// with the relay collector, the lifecycle counters, and the Go runtime and
// process collectors, plus the HTTP handler that serves them. Safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	src Source
	log *slog.Logger
}

// New registers src's counters and gauges (read at scrape time), events
// (fed by relay.Config.Events; nil leaves the lifecycle metrics out) and the
// Go runtime and process collectors in a new registry. log receives scrape
// errors; nil discards them.
func New(src Source, events *Lifecycle, log *slog.Logger) (*Metrics, error) {
	if src == nil {
		return nil, fmt.Errorf("metrics: Source is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), src: src, log: log}
	cs := []prometheus.Collector{
		newRelayCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if events != nil {
		cs = append(cs, events)
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Gatherer returns the registry, for tests and embedders that export it
// their own way.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Ready reports whether the relay accepts new allocations: true until it
// starts draining.
func (m *Metrics) Ready() bool { return !m.src.Draining() }

// maxConcurrentScrapes bounds scrapes in flight; more get 503.
const maxConcurrentScrapes = 4

// Handler serves
//
//	GET /metrics  Prometheus text exposition of the registry
//	GET /healthz  200 "ok" while the process runs
//	GET /readyz   200 "ready" while the relay accepts new allocations,
//	              503 "draining" once it drains
//
// HEAD is accepted where GET is; other methods get 405 and other paths 404.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            scrapeErrorLog{m.log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxConcurrentScrapes,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writePlain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if m.Ready() {
			writePlain(w, http.StatusOK, "ready\n")
			return
		}
		writePlain(w, http.StatusServiceUnavailable, "draining\n")
	})
	return mux
}

func writePlain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// scrapeErrorLog adapts promhttp's error log to slog.
type scrapeErrorLog struct{ log *slog.Logger }

func (l scrapeErrorLog) Println(v ...any) {
	l.log.Warn("metrics scrape error", "error", fmt.Sprint(v...))
}
