package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	b := queue.Backoff(time.Second, 5*time.Second)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 40: 5 * time.Second} {
		if got := b(attempt); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
}

// handler fails each run's first attempt and records every call.
type handler struct {
	mu       sync.Mutex
	attempts map[string][]int
	webhooks map[string]int
	done     chan string
}

func (h *handler) Run(_ context.Context, runID string, _ int64, attempt int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts[runID] = append(h.attempts[runID], attempt)
	if attempt == 1 {
		return errors.New("first attempts fail")
	}
	h.done <- runID
	return nil
}

func (h *handler) Deliver(_ context.Context, runID string, _ int64, _ int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.webhooks[runID]++
	h.done <- "webhook " + runID
	return nil
}

func TestJobsAreRetriedAfterAnErrorAndWebhooksDelivered(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run("on "+kind, func(t *testing.T) {
			url := ""
			if kind == "postgres" {
				url = storetest.Postgres(t)
			}
			ctx := context.Background()
			db, err := store.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			st := store.New(db)
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			h := &handler{attempts: map[string][]int{}, webhooks: map[string]int{}, done: make(chan string, 10)}
			q, err := queue.New(ctx, st, queue.Config{NodeID: "n", Concurrency: 2, PollInterval: 10 * time.Millisecond,
				RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }, Logger: slog.New(slog.DiscardHandler)}, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Stop(ctx) })
			err = db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := q.EnqueueRun(ctx, tx, "r1", 1, time.Time{}); err != nil {
					return err
				}
				_, err := q.EnqueueWebhook(ctx, tx, "r1", 0)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for len(seen) < 2 {
				select {
				case s := <-h.done:
					seen[s] = true
				case <-time.After(30 * time.Second):
					t.Fatalf("after 30s only %v happened", seen)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if got := h.attempts["r1"]; len(got) != 2 || got[0] != 1 || got[1] != 2 {
				t.Fatalf("attempts of r1 = %v, want [1 2]", got)
			}
			if h.webhooks["r1"] != 1 {
				t.Fatalf("webhook deliveries = %d, want 1", h.webhooks["r1"])
			}
		})
	}
}

func TestARolledBackTransactionQueuesNothing(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	st := store.New(db)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := &handler{attempts: map[string][]int{}, webhooks: map[string]int{}, done: make(chan string, 10)}
	q, err := queue.New(ctx, st, queue.Config{NodeID: "n", PollInterval: 10 * time.Millisecond, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }, Logger: slog.New(slog.DiscardHandler)}, h)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := q.EnqueueRun(ctx, tx, "gone", 1, time.Time{}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	// A marker job queued after the rolled-back one: once it ran, the
	// rolled-back one would have run too.
	if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := q.EnqueueRun(ctx, tx, "marker", 1, time.Time{}); return err }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the marker job never ran")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ran := h.attempts["gone"]; ran {
		t.Fatal("a job queued in a rolled-back transaction ran")
	}
}
