package server

import (
	"context"
	"github.com/berth-dev/berth/internal/buildinfo"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/store"
)

// metrics are this node's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	latency  prometheus.Histogram
	queued   prometheus.Counter
	running  prometheus.Gauge
	builds   *prometheus.CounterVec
	cacheHit *prometheus.CounterVec
	webhooks *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_runs_total",
			Help: "Runs finished on this node, by state, result kind and runner."}, []string{"state", "result", "runner"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_run_duration_seconds",
			Help: "Duration of a run's last attempt.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"state"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "berth_run_latency_seconds",
			Help: "Time from queueing a run to its end.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		queued:  prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_runs_queued_total", Help: "Runs queued through this node."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "berth_runs_running", Help: "Runs executing on this node now."}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_addon_builds_total",
			Help: "Addon preparations that built (image, flake), by runner."}, []string{"runner"}),
		cacheHit: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_addon_cache_hits_total",
			Help: "Addon preparations served from the cache, by runner."}, []string{"runner"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome."}, []string{"outcome"}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "berth_queue_depth",
		Help: "Runs queued (waiting or retrying) in the shared queue."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		counts, err := s.st.CountByState(ctx, nil)
		if err != nil {
			return -1
		}
		return float64(counts[store.Queued])
	})
	bi := buildinfo.Get()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "berth_build_info",
		Help: "Always 1; the labels say which berth this node runs."}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)
	m.reg.MustRegister(build, m.runs, m.duration, m.latency, m.queued, m.running, m.builds, m.cacheHit, m.webhooks, depth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// finished counts a run that reached a final state.
func (m *metrics) finished(r store.Run, o store.Outcome, res *executor.Result) {
	kind, runner := "none", "none"
	if res != nil {
		kind, runner = string(res.Kind), res.Runner
		if runner == "" {
			runner = "none"
		}
		for _, ar := range res.Addons {
			if ar.Runner == "" || ar.Runner == "trivial" {
				continue
			}
			if ar.Cached {
				m.cacheHit.WithLabelValues(ar.Runner).Inc()
			} else {
				m.builds.WithLabelValues(ar.Runner).Inc()
			}
		}
		m.duration.WithLabelValues(o.State).Observe(time.Duration(res.Duration).Seconds())
	}
	m.runs.WithLabelValues(o.State, kind, runner).Inc()
	if !r.Created.IsZero() {
		m.latency.Observe(time.Since(r.Created).Seconds())
	}
}
