package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCLIStart runs, alternating in one loop, whole processes:
// plain exec of a script that prints {} (the baseline), `berth --help`,
// `berth addon run ADDON --sandbox none` of an addon whose script is that
// one, and the same two with berthd, which is berth with the daemon linked
// (what berth was before issue 15). It reports each median and berth's
// cost over plain exec (goal: within exec + 4 ms).
//
//	go test ./cmd/berth -run '^$' -bench CLIStart -benchtime 100x
func BenchmarkCLIStart(b *testing.B) {
	addonDir, err := filepath.Abs("testdata/addons/noop")
	if err != nil {
		b.Fatal(err)
	}
	berthd := filepath.Join(filepath.Dir(berthBin), "berthd")
	tmp := b.TempDir()
	env := append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"))
	run := []string{"addon", "run", addonDir, "--sandbox", "none"}
	peers := []struct {
		name string
		argv []string
	}{
		{"plain-exec", []string{"/bin/sh", filepath.Join(addonDir, "n.sh")}},
		{"berth-help", []string{berthBin, "--help"}},
		{"berth-run", append([]string{berthBin}, run...)},
		{"berthd-help", []string{berthd, "--help"}},
		{"berthd-run", append([]string{berthd}, run...)},
	}
	times := make([][]time.Duration, len(peers))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, p := range peers {
			cmd := exec.Command(p.argv[0], p.argv[1:]...)
			cmd.Env = env
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", p.name, err, out)
			}
			times[j] = append(times[j], time.Since(start))
		}
	}
	b.StopTimer()
	med := make([]float64, len(peers))
	for j, p := range peers {
		slices.Sort(times[j])
		med[j] = float64(times[j][len(times[j])/2].Microseconds()) / 1000
		b.ReportMetric(med[j], p.name+"-ms")
	}
	b.ReportMetric(med[2]-med[0], "berth-run-over-exec-ms")
	b.ReportMetric(med[4]-med[0], "berthd-run-over-exec-ms")
}

// BenchmarkDaemonSoak starts berthd (`berth serve`, SQLite in a temporary
// data dir, the trivial runner, sandbox none unless BERTH_BENCH_SANDBOX
// names another), installs the noop addon and pushes b.N runs of it
// through the HTTP API (8 senders), in ten rounds each waited for until
// berth_runs_total counts it. It reports the daemon's resident memory
// (VmRSS) idle before the first run, at its peak under load (sampled every
// 50 ms), after the first round and after the last, and the last over the
// first: a bounded soak showing whether memory grows with the number of
// runs (issue 15 item 4). No assertion: the figures go in benchmarks.md.
//
//	go test ./cmd/berth -run '^$' -bench DaemonSoak -benchtime 10000x -timeout 30m
func BenchmarkDaemonSoak(b *testing.B) {
	addonDir, err := filepath.Abs("testdata/addons/noop")
	if err != nil {
		b.Fatal(err)
	}
	berthd := filepath.Join(filepath.Dir(berthBin), "berthd")
	tmp := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sb := os.Getenv("BERTH_BENCH_SANDBOX")
	if sb == "" {
		sb = "none"
	}
	cmd := exec.Command(berthd, "serve", "--listen", addr, "--data-dir", filepath.Join(tmp, "data"), "--allow-path", "--concurrency", "4")
	cmd.Env = append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"),
		"BERTH_RUNNERS=trivial", "BERTH_SANDBOX="+sb, "BERTH_LOG_LEVEL=warn")
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get(api + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("berthd did not answer /healthz:\n%s", logBuf.String())
		}
	}
	post := func(path string, body any) map[string]any {
		js, _ := json.Marshal(body)
		r, err := http.Post(api+path, "application/json", bytes.NewReader(js))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(r.Body).Decode(&v)
		if r.StatusCode >= 300 {
			b.Fatalf("POST %s = %d %v", path, r.StatusCode, v)
		}
		return v
	}
	id, _ := post("/v1/addons", map[string]string{"path": addonDir})["id"].(string)
	if id == "" {
		b.Fatal("the addon install returned no id")
	}
	rss := func() float64 {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
		b.Fatal("no VmRSS")
		return 0
	}
	finished := func() int {
		r, err := http.Get(api + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		n := 0
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "berth_runs_total{") {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				n += int(v)
			}
		}
		return n
	}
	time.Sleep(time.Second)
	idle := rss()

	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if m := int64(rss() * 1024); m > peak.Load() {
					peak.Store(m)
				}
			}
		}
	}()
	rounds := min(10, b.N)
	var afterFirst, afterLast float64
	sent := 0
	b.ResetTimer()
	start := time.Now()
	for round := 0; round < rounds; round++ {
		n := b.N / rounds
		if round == rounds-1 {
			n = b.N - sent
		}
		work := make(chan struct{}, n)
		for range n {
			work <- struct{}{}
		}
		close(work)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range work {
					post("/v1/runs", map[string]string{"addonId": id})
				}
			})
		}
		wg.Wait()
		sent += n
		for finished() < sent {
			time.Sleep(20 * time.Millisecond)
		}
		if round == 0 {
			afterFirst = rss()
		}
		afterLast = rss()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	b.ReportMetric(idle, "idle-rss-MiB")
	b.ReportMetric(float64(peak.Load())/1024, "peak-rss-MiB")
	b.ReportMetric(afterFirst, "rss-after-first-tenth-MiB")
	b.ReportMetric(afterLast, "rss-after-last-MiB")
	b.ReportMetric(afterLast/afterFirst, "last/first-rss")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
}
