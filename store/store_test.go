package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/storetest"
)

// open opens a migrated store on the named database kind.
func open(t *testing.T, kind string) *store.Store {
	t.Helper()
	url := ""
	if kind == "postgres" {
		url = storetest.Postgres(t)
	}
	db, err := store.Open(context.Background(), url, t.TempDir())
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	t.Cleanup(db.Close)
	st := store.New(db)
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("%s: migrate: %v", kind, err)
	}
	// Migrating twice is a no-op.
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("%s: second migrate: %v", kind, err)
	}
	return st
}

func TestStore(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run("on "+name, func(t *testing.T) { testStore(t, open(t, name)) })
	}
}

func testStore(t *testing.T, st *store.Store) {
	{
		t.Run("it stores addons and configurations and finds them by trigger", func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			a := store.Addon{ID: "ad_1", Name: "hello", Version: "1.0", Source: "/x", Hash: "h", Dir: "/d", Pure: true, Info: []byte(`{}`), Created: now, Updated: now}
			if err := st.PutAddon(ctx, nil, a); err != nil {
				t.Fatal(err)
			}
			a.Hash = "h2"
			if err := st.PutAddon(ctx, nil, a); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetAddon(ctx, nil, "ad_1")
			if err != nil || got.Hash != "h2" || !got.Pure {
				t.Fatalf("GetAddon = %+v, %v; want the updated hash", got, err)
			}
			if _, err := st.GetAddon(ctx, nil, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing addon: err = %v, want ErrNotFound", err)
			}
			c := store.RunConfig{ID: "rc_1", Name: "c", Enabled: true, Triggers: []string{"existing-item", "scheduled"}, Schedule: "@every 1s", Body: []byte(`{"addons":[{"addonId":"ad_1"}]}`), Created: now, Updated: now}
			if err := st.PutRunConfig(ctx, nil, c); err != nil {
				t.Fatal(err)
			}
			off := c
			off.ID, off.Enabled = "rc_2", false
			if err := st.PutRunConfig(ctx, nil, off); err != nil {
				t.Fatal(err)
			}
			byTrigger, err := st.ListRunConfigs(ctx, nil, "existing-item")
			if err != nil || len(byTrigger) != 1 || byTrigger[0].ID != "rc_1" {
				t.Fatalf("ListRunConfigs(existing-item) = %+v, %v; want only the enabled rc_1", byTrigger, err)
			}
			if none, _ := st.ListRunConfigs(ctx, nil, "final-process-item"); len(none) != 0 {
				t.Fatalf("ListRunConfigs(final-process-item) = %+v, want none", none)
			}
			users, err := st.ConfigsUsingAddon(ctx, nil, "ad_1")
			if err != nil || len(users) != 2 {
				t.Fatalf("ConfigsUsingAddon = %v, %v; want rc_1 and rc_2", users, err)
			}
		})
		t.Run("it moves a run through its states only from the job that carries it", func(t *testing.T) {
			ctx := context.Background()
			r := store.Run{ID: "run_1", Trigger: "manual", State: store.Queued, MaxAttempts: 3, Pure: true, Spec: []byte(`{}`), JobID: 7, Created: time.Now()}
			ok, err := st.InsertRun(ctx, nil, r)
			if err != nil || !ok {
				t.Fatalf("InsertRun = %v, %v", ok, err)
			}
			if ok, err := st.InsertRun(ctx, nil, r); err != nil || ok {
				t.Fatalf("second InsertRun = %v, %v; want false (duplicate id)", ok, err)
			}
			if _, err := st.StartAttempt(ctx, nil, "run_1", "n1", 8, time.Now()); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("StartAttempt from another job: err = %v, want ErrConflict", err)
			}
			got, err := st.StartAttempt(ctx, nil, "run_1", "n1", 7, time.Now())
			if err != nil || got.State != store.Running || got.Attempts != 1 || got.Node != "n1" {
				t.Fatalf("StartAttempt = %+v, %v", got, err)
			}
			if err := st.FinishAttempt(ctx, nil, "run_1", 7, store.Outcome{State: store.Succeeded, Result: []byte(`{"ok":true}`), Logs: []byte(`{}`)}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := st.FinishAttempt(ctx, nil, "run_1", 7, store.Outcome{State: store.Failed}, time.Now()); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("finishing a final run again: err = %v, want ErrConflict", err)
			}
			got, _ = st.GetRun(ctx, nil, "run_1")
			if got.State != store.Succeeded || string(got.Result) != `{"ok":true}` || got.Finished.IsZero() {
				t.Fatalf("run = %+v", got)
			}
			if _, err := st.RequestCancel(ctx, nil, "run_1", time.Now()); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("cancelling a final run: err = %v, want ErrConflict", err)
			}
			counts, err := st.CountByState(ctx, nil)
			if err != nil || counts[store.Succeeded] != 1 {
				t.Fatalf("CountByState = %v, %v", counts, err)
			}
		})
		t.Run("it cancels a queued run at once and flags a running one", func(t *testing.T) {
			ctx := context.Background()
			for _, id := range []string{"q", "r"} {
				if _, err := st.InsertRun(ctx, nil, store.Run{ID: id, State: store.Queued, Spec: []byte(`{}`), JobID: 1, Created: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.StartAttempt(ctx, nil, "r", "n", 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			if now, err := st.RequestCancel(ctx, nil, "q", time.Now()); err != nil || !now {
				t.Fatalf("cancel queued = %v, %v; want cancelled now", now, err)
			}
			if now, err := st.RequestCancel(ctx, nil, "r", time.Now()); err != nil || now {
				t.Fatalf("cancel running = %v, %v; want flagged only", now, err)
			}
			if yes, _ := st.CancelRequested(ctx, nil, "r"); !yes {
				t.Fatal("the running run's cancel flag is not set")
			}
		})
		t.Run("paging by cursor neither skips nor repeats runs created in the same millisecond", func(t *testing.T) {
			ctx := context.Background()
			same := time.UnixMilli(1_700_000_000_123)
			var want []string
			for _, id := range []string{"pg_e", "pg_a", "pg_d", "pg_b", "pg_c"} {
				if _, err := st.InsertRun(ctx, nil, store.Run{ID: id, ConfigID: "paging", State: store.Succeeded, Spec: []byte(`{}`), Created: same}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "pg_older", ConfigID: "paging", State: store.Succeeded, Spec: []byte(`{}`), Created: same.Add(-time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			want = []string{"pg_e", "pg_d", "pg_c", "pg_b", "pg_a", "pg_older"}
			var got []string
			f := store.RunFilter{ConfigID: "paging", Limit: 2}
			for page := 0; page < 10; page++ {
				runs, err := st.ListRuns(ctx, nil, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(runs) == 0 {
					break
				}
				for _, r := range runs {
					got = append(got, r.ID)
				}
				c := store.CursorOf(runs[len(runs)-1])
				f.After = &c
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages gave %v, want %v", got, want)
			}
			// The old time-only parameter still works (and skips the rest
			// of the millisecond, which is why the cursor exists).
			old, err := st.ListRuns(ctx, nil, store.RunFilter{ConfigID: "paging", Before: same})
			if err != nil || len(old) != 1 || old[0].ID != "pg_older" {
				t.Fatalf("ListRuns(Before) = %+v, %v; want only pg_older", old, err)
			}
		})
		t.Run("retention removes only final runs with no webhook to deliver", func(t *testing.T) {
			ctx := context.Background()
			old := time.Now().Add(-2 * time.Hour)
			runs := []store.Run{
				{ID: "ret_done", State: store.Succeeded, WebhookState: "delivered", Finished: old},
				{ID: "ret_failed", State: store.Failed, Finished: old},
				{ID: "ret_queued", State: store.Queued, Finished: old},
				{ID: "ret_running", State: store.Running, Finished: old},
				{ID: "ret_pending", State: store.Succeeded, WebhookState: "pending", Finished: old},
				{ID: "ret_retrying", State: store.Failed, WebhookState: "retrying (attempt 2): 503", Finished: old},
				{ID: "ret_recent", State: store.Succeeded, Finished: time.Now()},
			}
			for _, r := range runs {
				r.ConfigID, r.Spec, r.Created = "retention", []byte(`{}`), old
				if _, err := st.InsertRun(ctx, nil, r); err != nil {
					t.Fatal(err)
				}
			}
			// A delivery in flight (its state is set when the attempt ends).
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "ret_inflight", ConfigID: "retention", State: store.Succeeded, WebhookState: "delivered", Spec: []byte(`{}`), Created: old, Finished: old}); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.StartDelivery(ctx, nil, "ret_inflight", 9, "n1", 2); err != nil || !ok {
				t.Fatalf("StartDelivery = %v, %v", ok, err)
			}
			var got []string
			for {
				ids, err := st.DeleteFinished(ctx, nil, time.Hour, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(ids) == 0 {
					break
				}
				got = append(got, ids...)
			}
			slices.Sort(got)
			if want := []string{"ret_done", "ret_failed"}; !slices.Equal(got, want) {
				t.Fatalf("DeleteFinished removed %v, want %v", got, want)
			}
		})
		t.Run("heartbeats carry the database's time, not the time of the node's clock", func(t *testing.T) {
			ctx := context.Background()
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "clk", State: store.Queued, Spec: []byte(`{}`), JobID: 3, Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.StartAttempt(ctx, nil, "clk", "clocked", 3, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := st.Heartbeat(ctx, nil, "clocked", time.Now().Add(-24*time.Hour), 0); err != nil {
				t.Fatal(err)
			}
			dbNow, err := st.Now(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			nodes, err := st.ListNodes(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(nodes, func(n store.Node) bool { return n.ID == "clocked" })
			if i < 0 {
				t.Fatalf("nodes = %+v, want clocked", nodes)
			}
			if hb := nodes[i].Heartbeat; hb.After(dbNow) || dbNow.Sub(hb) > time.Minute {
				t.Fatalf("heartbeat %s, want the database's time (now %s)", hb, dbNow)
			}
			orphans, err := st.Orphans(ctx, nil, "me", false, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orphans {
				if o.ID == "clk" {
					t.Fatalf("a run of the node that just sent a heartbeat is an orphan: %+v", o)
				}
			}
		})
		t.Run("it finds the runs of dead nodes and lets exactly one node adopt each", func(t *testing.T) {
			ctx := context.Background()
			for _, node := range []string{"dead", "alive"} {
				if err := st.Heartbeat(ctx, nil, node, time.Now(), 0); err != nil {
					t.Fatal(err)
				}
			}
			// Heartbeats are stamped by the database: age the dead node's
			// by an hour there.
			if _, err := st.DB().Exec(ctx, `UPDATE berth_nodes SET heartbeat_ms = heartbeat_ms - 3600000 WHERE id = 'dead'`); err != nil {
				t.Fatal(err)
			}
			for id, node := range map[string]string{"o1": "dead", "o2": "alive", "o3": "vanished"} {
				if _, err := st.InsertRun(ctx, nil, store.Run{ID: id, State: store.Queued, Spec: []byte(`{}`), JobID: 5, Created: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.StartAttempt(ctx, nil, id, node, 5, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			orphans, err := st.Orphans(ctx, nil, "me", false, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, o := range orphans {
				ids[o.ID] = true
			}
			if !ids["o1"] || !ids["o3"] || ids["o2"] {
				t.Fatalf("orphans = %+v, want o1 (stale node) and o3 (unknown node), not o2 (live node)", orphans)
			}
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "jobless", State: store.Queued, Spec: []byte(`{}`), Created: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.InsertRun(ctx, nil, store.Run{ID: "jobless-new", State: store.Queued, Spec: []byte(`{}`), Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			orphans, err = st.Orphans(ctx, nil, "me", false, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			ids = map[string]bool{}
			for _, o := range orphans {
				ids[o.ID] = true
			}
			if !ids["jobless"] || ids["jobless-new"] {
				t.Fatalf("orphans = %+v, want the old run without a job and not the new one", orphans)
			}
			mine, err := st.Orphans(ctx, nil, "alive", true, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(mine, func(o store.Orphan) bool { return o.ID == "o2" }) {
				t.Fatalf("orphans at the start of node alive = %+v, want its own o2 too", mine)
			}
			var wins int
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, node := range []string{"a", "b", "c"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := st.AdoptOrphan(ctx, nil, orphans[0], node)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d nodes adopted the same orphan, want exactly 1", wins)
			}
		})
	}
}

func TestOpenRefusesASecondProcessOnOneSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.File != filepath.Join(dir, "berth.db") {
		t.Fatalf("File = %s", db.File)
	}
	// flock is per open file description, so a second Open in the same
	// process conflicts just like a second process.
	if _, err := store.Open(context.Background(), "", dir); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
}

func TestOpenRejectsAnUnknownScheme(t *testing.T) {
	if _, err := store.Open(context.Background(), "mysql://x", t.TempDir()); err == nil {
		t.Fatal("Open(mysql://…) succeeded")
	}
}
