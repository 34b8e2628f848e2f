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
	"github.com/berth-dev/berth/server/svcmgr"
	"github.com/berth-dev/berth/service"
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
	m.reg.MustRegister(&servicesCollector{s: s})
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

// servicesCollector reports the supervised services as the manager
// knows them at each scrape.
type servicesCollector struct{ s *Server }

var (
	svcStateDesc = prometheus.NewDesc("berth_service_state",
		"1 for the state a supervised service is in, 0 for the others.", []string{"project", "service", "state"}, nil)
	svcRestartsDesc = prometheus.NewDesc("berth_service_restarts_total",
		"Restarts of a supervised service since its supervisor started.", []string{"project", "service"}, nil)
	svcExitDesc = prometheus.NewDesc("berth_service_last_exit_code",
		"Exit status of a supervised service's last container run (absent before the first exit).", []string{"project", "service"}, nil)
	svcHealthyDesc = prometheus.NewDesc("berth_service_healthy",
		"1 when a supervised service's health check passes, 0 otherwise (absent without a check, or while its container does not run).", []string{"project", "service"}, nil)
	svcProjectDesc = prometheus.NewDesc("berth_services_project_state",
		"1 for the state a project's supervisor is in (running, failed, held, stopped), 0 for the others.", []string{"project", "state"}, nil)
)

var (
	serviceStates = []service.State{service.Waiting, service.Starting, service.Running, service.Unhealthy,
		service.Stopping, service.Backoff, service.Failed, service.Stopped}
	projectStates = []svcmgr.State{svcmgr.Running, svcmgr.Failed, svcmgr.Held, svcmgr.Stopped}
)

func (c *servicesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{svcStateDesc, svcRestartsDesc, svcExitDesc, svcHealthyDesc, svcProjectDesc} {
		ch <- d
	}
}

func (c *servicesCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, p := range c.s.services.List() {
		// A berth.yaml entry refused for a project another one has is
		// listed too: its series would be duplicates.
		if seen[p.Project] {
			continue
		}
		seen[p.Project] = true
		for _, st := range projectStates {
			ch <- prometheus.MustNewConstMetric(svcProjectDesc, prometheus.GaugeValue, boolValue(p.State == st), p.Project, string(st))
		}
		for _, st := range p.Services {
			for _, state := range serviceStates {
				ch <- prometheus.MustNewConstMetric(svcStateDesc, prometheus.GaugeValue, boolValue(st.State == state), p.Project, st.Name, string(state))
			}
			ch <- prometheus.MustNewConstMetric(svcRestartsDesc, prometheus.CounterValue, float64(st.Restarts), p.Project, st.Name)
			if st.LastExitCode != nil {
				ch <- prometheus.MustNewConstMetric(svcExitDesc, prometheus.GaugeValue, float64(*st.LastExitCode), p.Project, st.Name)
			}
			if st.Health != "" {
				ch <- prometheus.MustNewConstMetric(svcHealthyDesc, prometheus.GaugeValue, boolValue(st.Health == "healthy"), p.Project, st.Name)
			}
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
