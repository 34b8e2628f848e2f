package runlog_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runlog"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

func open(t *testing.T, kind string) *store.Store {
	t.Helper()
	url := ""
	if kind == "postgres" {
		url = storetest.Postgres(t)
	}
	db, err := store.Open(context.Background(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	st := store.New(db)
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newRun(t *testing.T, st *store.Store, id string) {
	t.Helper()
	r := store.Run{ID: id, State: store.Running, Attempts: 1, MaxAttempts: 3, Spec: []byte(`{}`), Created: time.Now()}
	if _, err := st.InsertRun(context.Background(), nil, r); err != nil {
		t.Fatal(err)
	}
}

func all(t *testing.T, st *store.Store, id string) []store.LogLine {
	t.Helper()
	var out []store.LogLine
	after := int64(0)
	for {
		ls, err := st.RunLogs(context.Background(), nil, id, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ls...)
		if len(ls) < 1000 {
			return out
		}
		after = ls[len(ls)-1].Seq
	}
}

func texts(ls []store.LogLine) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Line)
	}
	return s
}

func TestWriter(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) { testWriter(t, open(t, kind)) })
	}
}

func testWriter(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t.Run("lines are stored while the attempt runs, in order, with their stream", func(t *testing.T) {
		newRun(t, st, "run_live")
		w, err := runlog.Open(ctx, st, "run_live", 1, runlog.Options{MaxLines: 100, Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(w.Stream(store.StreamBuild), "step 1/2\nstep 2/2\n")
		fmt.Fprint(w.Stream(store.StreamStderr), "[hello] hi\n[hello] part")
		deadline := time.Now().Add(10 * time.Second)
		for len(all(t, st, "run_live")) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s the open writer had stored %q", texts(all(t, st, "run_live")))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got := all(t, st, "run_live")
		want := []string{"build step 1/2", "build step 2/2", "stderr [hello] hi", "stderr [hello] part"}
		var have []string
		for i, l := range got {
			have = append(have, l.Stream+" "+l.Line)
			if l.Seq != int64(i+1) || l.Attempt != 1 || l.Time.IsZero() {
				t.Errorf("line %d: seq %d attempt %d time %v", i, l.Seq, l.Attempt, l.Time)
			}
		}
		if strings.Join(have, "|") != strings.Join(want, "|") {
			t.Fatalf("stored %q, want %q", have, want)
		}
	})

	t.Run("a flood of 200,000 lines keeps the first and last lines and a marker counting the rest", func(t *testing.T) {
		newRun(t, st, "run_flood")
		w, err := runlog.Open(ctx, st, "run_flood", 1, runlog.Options{MaxLines: 100, Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := w.Stream(store.StreamStderr)
		start := time.Now()
		for i := range 200_000 {
			fmt.Fprintf(s, "line %d\n", i)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("200,000 lines written and stored in %v", time.Since(start))
		got := all(t, st, "run_flood")
		if len(got) != 101 {
			t.Fatalf("stored %d lines, want 50 first, a marker, 50 last", len(got))
		}
		if got[0].Line != "line 0" || got[49].Line != "line 49" || got[51].Line != "line 199950" || got[100].Line != "line 199999" {
			t.Fatalf("kept %q … %q, %q … %q", got[0].Line, got[49].Line, got[51].Line, got[100].Line)
		}
		m := got[50]
		if m.Stream != store.StreamBerth || m.Dropped != 199_900 || !strings.Contains(m.Line, "199900 lines dropped") {
			t.Fatalf("marker = %+v", m)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("seq not increasing at %d: %d then %d", i, got[i-1].Seq, got[i].Seq)
			}
		}
	})

	t.Run("every attempt's lines are kept, each within its share of the cap", func(t *testing.T) {
		newRun(t, st, "run_retry")
		for attempt := 1; attempt <= 3; attempt++ {
			w, err := runlog.Open(ctx, st, "run_retry", attempt, runlog.Options{MaxLines: 30, AttemptsLeft: 3 - attempt + 1})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				fmt.Fprintf(w.Stream(store.StreamStderr), "attempt %d line %d\n", attempt, i)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got := all(t, st, "run_retry")
		per := map[int]int{}
		last := map[int]string{}
		for _, l := range got {
			if l.Stream == store.StreamStderr {
				per[l.Attempt]++
				last[l.Attempt] = l.Line
			}
		}
		if len(got)-3 > 30 {
			t.Errorf("stored %d lines (markers besides) over a cap of 30", len(got)-3)
		}
		for a := 1; a <= 3; a++ {
			if per[a] == 0 || last[a] != fmt.Sprintf("attempt %d line 99", a) {
				t.Errorf("attempt %d: %d lines kept, the last %q", a, per[a], last[a])
			}
		}
	})

	t.Run("Follow sends the lines as they come and ends when the run is final", func(t *testing.T) {
		newRun(t, st, "run_follow")
		w, err := runlog.Open(ctx, st, "run_follow", 1, runlog.Options{MaxLines: 100, Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 100)
		res := make(chan error, 1)
		go func() {
			state, err := runlog.Follow(ctx, st, "run_follow", 0, 10*time.Millisecond, func(ls []store.LogLine) error {
				for _, l := range ls {
					got <- l.Line
				}
				return nil
			})
			if err == nil && state != store.Succeeded {
				err = fmt.Errorf("Follow ended with state %q", state)
			}
			res <- err
		}()
		fmt.Fprintln(w.Stream(store.StreamStderr), "first")
		select {
		case l := <-got:
			if l != "first" {
				t.Fatalf("first line %q", l)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the follower did not get the first line while the run was running")
		}
		fmt.Fprintln(w.Stream(store.StreamStderr), "last")
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishAttempt(ctx, nil, "run_follow", 0, store.Outcome{State: store.Succeeded}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		if l := <-got; l != "last" {
			t.Fatalf("second line %q", l)
		}
	})
}

// A flood of 200,000 lines costs about the same per line whatever the
// cap: a line over the head goes into a ring, and each batch stores at
// most the ring's lines. Bytes allocated are counted, not time.
func TestAStderrFloodCostsTheSamePerLineWhateverTheCap(t *testing.T) {
	st := open(t, "sqlite")
	const lines = 200_000
	line := []byte("warning: the addon says something on every line\n")
	perLine := func(id string, max int) float64 {
		newRun(t, st, id)
		w, err := runlog.Open(context.Background(), st, id, 1, runlog.Options{MaxLines: max})
		if err != nil {
			t.Fatal(err)
		}
		s := w.Stream(store.StreamStderr)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range lines {
			s.Write(line)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if got := len(all(t, st, id)); got != max+1 {
			t.Fatalf("cap %d: stored %d lines", max, got)
		}
		return float64(after.TotalAlloc-before.TotalAlloc) / lines
	}
	small, large := perLine("run_small", 100), perLine("run_large", 10_000)
	t.Logf("bytes allocated per line: %.0f with 100 lines kept, %.0f with 10,000 kept", small, large)
	if large > 4*small+512 {
		t.Fatalf("a line costs %.0f bytes with 10,000 lines kept and %.0f with 100: the cost grows with the cap", large, small)
	}
}

// BenchmarkWriter writes a flood of lines into Writers with caps of
// 1000 and 100,000 lines (SQLite); past the cap the time per line
// should not depend on it.
//
//	go test -run '^$' -bench BenchmarkWriter ./runlog/
func BenchmarkWriter(b *testing.B) {
	db, err := store.Open(context.Background(), "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st := store.New(db)
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	line := []byte("warning: the addon says something on every line\n")
	for _, max := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("cap=%d", max), func(b *testing.B) {
			id := fmt.Sprintf("run_bench_%d", max)
			if _, err := st.InsertRun(context.Background(), nil, store.Run{ID: id, State: store.Running, Spec: []byte(`{}`), Created: time.Now()}); err != nil {
				b.Fatal(err)
			}
			w, err := runlog.Open(context.Background(), st, id, 1, runlog.Options{MaxLines: max})
			if err != nil {
				b.Fatal(err)
			}
			s := w.Stream(store.StreamStderr)
			for range 2 * max {
				s.Write(line)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.Write(line)
			}
			b.StopTimer()
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
