package executor_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/executor"
)

// BenchmarkOverhead measures what berth adds to a run: each iteration
// runs the tiny "impure" fixture through the executor with the trivial
// runner (no sandbox) and execs the same script directly, alternating,
// and reports both medians and their difference (the goal: under 5 ms).
//
//	go test ./executor -run '^$' -bench Overhead -benchtime 200x
func BenchmarkOverhead(b *testing.B) {
	a := load(&testing.T{}, "impure")
	ex := newExecutor(&testing.T{})
	// As the CLI runs by default: warnings only.
	ex.Logger = slog.New(slog.DiscardHandler)
	ex.WorkRoot, ex.CacheRoot = b.TempDir(), b.TempDir()
	script := filepath.Join(a.Dir, "run.sh")
	req := executor.Request{Steps: []executor.Step{{Addon: a}}}
	var direct, viaBerth []time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if out, err := exec.Command(script).Output(); err != nil || len(out) == 0 {
			b.Fatalf("direct exec: %v", err)
		}
		direct = append(direct, time.Since(start))

		start = time.Now()
		res, err := ex.Run(ctx, req)
		if err != nil || res.Kind != executor.Success {
			b.Fatalf("berth run: %v %+v", err, res)
		}
		viaBerth = append(viaBerth, time.Since(start))
	}
	b.StopTimer()
	md, mb := median(direct), median(viaBerth)
	b.ReportMetric(float64(md.Microseconds())/1000, "direct-ms")
	b.ReportMetric(float64(mb.Microseconds())/1000, "berth-ms")
	b.ReportMetric(float64((mb-md).Microseconds())/1000, "overhead-ms")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
