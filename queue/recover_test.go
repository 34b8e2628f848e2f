package queue_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// stalled is a node that took its job from the queue and then stopped
// before it marked the run running (killed with SIGKILL, in real life):
// its handler reports the job and never returns by itself.
type stalled struct {
	fetched chan int64
	release chan struct{}
}

func (h *stalled) Run(ctx context.Context, _ string, jobID int64, _ int) error {
	h.fetched <- jobID
	select {
	case <-ctx.Done():
	case <-h.release:
	}
	return nil
}

func (h *stalled) Deliver(context.Context, string, int64, int) error { return nil }

// recorder is a live node: it reports each job it is handed.
type recorder struct{ ran chan int64 }

func (h *recorder) Run(_ context.Context, _ string, jobID int64, _ int) error {
	h.ran <- jobID
	return nil
}

func (h *recorder) Deliver(context.Context, string, int64, int) error { return nil }

func startQueue(t *testing.T, st *store.Store, node string, h queue.Handler) *queue.Queue {
	t.Helper()
	ctx := context.Background()
	q, err := queue.New(ctx, st, queue.Config{NodeID: node, PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

// The issue: a node killed between the queue handing it a job and berth
// marking the run running left the run queued for ever (Orphans looked
// only at running runs, runs queued for a retry and runs without a job;
// river's rescuer looks after hours). Both ways of recovering are
// checked: another PostgreSQL node taking over a dead one, and a SQLite
// daemon restarting.
func TestARunWhoseJobAStoppedNodeFetchedIsRecovered(t *testing.T) {
	for _, tc := range []struct {
		name, db string
		// the recovering node, and how it calls Recover
		node       string
		starting   bool
		staleAfter time.Duration
	}{
		{name: "by another node on postgres", db: "postgres", node: "b", staleAfter: 50 * time.Millisecond},
		{name: "by the restarted node on sqlite", db: "sqlite", node: "a", starting: true, staleAfter: -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			url := ""
			if tc.db == "postgres" {
				url = storetest.Postgres(t)
			}
			db, err := store.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			st := store.New(db)
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			dead := &stalled{fetched: make(chan int64, 1), release: make(chan struct{})}
			if err := st.Heartbeat(ctx, nil, "a", time.Now(), 0); err != nil {
				t.Fatal(err)
			}
			qa := startQueue(t, st, "a", dead)
			t.Cleanup(func() { close(dead.release) }) // before qa stops
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "r1", State: store.Queued, MaxAttempts: 1, Spec: []byte("{}"), Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			job, err := qa.EnqueueRunNow(ctx, "r1", 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetFirstRunJob(ctx, nil, "r1", job); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-dead.fetched:
				if got != job {
					t.Fatalf("node a fetched job %d, want %d", got, job)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("node a never fetched the job")
			}
			// Node a now sends no more heartbeats.
			time.Sleep(100 * time.Millisecond)

			live := &recorder{ran: make(chan int64, 4)}
			if err := st.Heartbeat(ctx, nil, tc.node, time.Now(), 0); err != nil {
				t.Fatal(err)
			}
			qb := startQueue(t, st, tc.node, live)
			n, err := qb.Recover(ctx, st, func(store.Run) int { return 1 }, tc.staleAfter, tc.starting)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				r, _ := st.GetRun(ctx, nil, "r1")
				t.Fatalf("Recover adopted %d runs, want the one whose job node a fetched (run %+v)", n, r)
			}
			r, err := st.GetRun(ctx, nil, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if r.JobID == job || r.Node != tc.node {
				t.Fatalf("run after recovery = job %d node %q, want a new job on %s", r.JobID, r.Node, tc.node)
			}
			select {
			case got := <-live.ran:
				if got != r.JobID {
					t.Fatalf("node %s ran job %d, want the new job %d", tc.node, got, r.JobID)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("node %s never ran the new job", tc.node)
			}
			// Another pass finds nothing more to adopt.
			if n, err := qb.Recover(ctx, st, func(store.Run) int { return 1 }, tc.staleAfter, false); err != nil || n != 0 {
				t.Fatalf("second Recover = %d, %v; want 0", n, err)
			}
		})
	}
}
