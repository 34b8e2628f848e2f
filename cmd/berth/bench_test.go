package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
