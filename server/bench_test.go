package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store/storetest"
)

// BenchmarkDaemon measures end-to-end throughput and latency of a tiny
// pure trivial addon: events in through HTTP, each sender polling its run
// until it is final. The baseline is the executor running the same addon
// directly, in the same process, with the same concurrency.
//
//	go test -run '^$' -bench BenchmarkDaemon -benchtime 500x ./server/
func BenchmarkDaemon(b *testing.B) {
	for _, senders := range []int{1, 8} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchDaemon(b, senders) })
	}
}

func benchDaemon(b *testing.B, senders int) {
	b.Run("baseline executor only", func(b *testing.B) {
		cfg := testConfig(b, b.TempDir())
		ex := berth.NewExecutor(context.Background(), cfg, berth.Options{Logger: testLogger()})
		a, err := addon.Load(fixture("tick"))
		if err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, b.N)
		var failures atomic.Int64
		defer func() { b.ReportMetric(float64(failures.Load()), "failed-runs") }()
		work := make(chan int)
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					t0 := time.Now()
					res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, Item: &executor.Item{Data: []byte(`{"id":"x"}`)}})
					if err != nil || res.Kind != executor.Success {
						failures.Add(1)
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		for i := range b.N {
			work <- i
		}
		close(work)
		wg.Wait()
		report(b, time.Since(start), lat, nil)
	})
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			n := benchNode(b, db)
			lat := make([]time.Duration, b.N)
			server := make([]time.Duration, b.N)
			work := make(chan int)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						if !sendAndWait(b, n, i, 10*time.Millisecond, &lat[i], &server[i]) {
							return
						}
					}
				}()
			}
			for i := range b.N {
				work <- i
			}
			close(work)
			wg.Wait()
			report(b, time.Since(start), lat, server)
		})
	}
}

func report(b *testing.B, total time.Duration, lat, server []time.Duration) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/total.Seconds(), "runs/s")
	pct := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(float64(len(s)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	if server != nil {
		b.ReportMetric(pct(server, 0.5), "p50-queued-to-done-ms")
	}
}

var benchConcurrency = 8

// BenchmarkDaemonAtRate offers events at a fixed 100 per second (open
// loop, the throughput goal) instead of as fast as senders can,
// so the latency it reports is that of a node keeping up with that rate
// rather than the queueing delay of a saturated one.
//
//	go test -run '^$' -bench BenchmarkDaemonAtRate -benchtime 500x ./server/
func BenchmarkDaemonAtRate(b *testing.B) {
	const rate = 100
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			n := benchNode(b, db)
			server := make([]time.Duration, b.N)
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				<-tick.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					sendAndWait(b, n, i, 5*time.Millisecond, &lat[i], &server[i])
				}()
			}
			wg.Wait()
			report(b, time.Since(start), lat, server)
		})
	}
}

// sendAndWait sends event i, polls its run every poll until it is final,
// and records the sender's latency and the server's queued-to-done time.
// It reports false after an error.
func sendAndWait(b *testing.B, n *node, i int, poll time.Duration, lat, server *time.Duration) bool {
	t0 := time.Now()
	var ev struct{ Runs []runV }
	if code := n.call("POST", "/v1/events", map[string]any{"trigger": "existing-item", "item": map[string]string{"id": fmt.Sprint(i)}}, &ev); code != 202 || len(ev.Runs) != 1 {
		b.Errorf("event = %d %+v", code, ev)
		return false
	}
	for {
		var r struct {
			State                 string
			CreatedAt, FinishedAt time.Time
		}
		if code := n.call("GET", "/v1/runs/"+ev.Runs[0].ID, nil, &r); code != http.StatusOK {
			b.Errorf("get = %d", code)
			return false
		}
		if r.State == "succeeded" || r.State == "failed" {
			if r.State != "succeeded" {
				b.Errorf("run %s %s", ev.Runs[0].ID, r.State)
			}
			*lat, *server = time.Since(t0), r.FinishedAt.Sub(r.CreatedAt)
			return true
		}
		time.Sleep(poll)
	}
}

// benchNode starts a node on db (sqlite or postgres) with the tiny pure
// addon installed and a run configuration for existing-item events.
func benchNode(b *testing.B, db string) *node {
	url := ""
	if db == "postgres" {
		url = storetest.Postgres(b)
	}
	n := startNode(b, nodeOpts{dbURL: url, set: func(s *settings.Serve) {
		s.Concurrency = benchConcurrency
		s.PollInterval = settings.Duration(10 * time.Millisecond)
	}})
	a := n.install(fixture("tick"))
	n.config(map[string]any{"name": "bench", "enabled": true, "trigger": []string{"existing-item"}, "addons": []map[string]string{{"addonId": a.ID}}})
	return n
}
