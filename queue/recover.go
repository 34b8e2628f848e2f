package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/store"
)

// Recover hands every run left running by a node that has sent no
// heartbeat for staleAfter (by the database's clock) to a new job, so that it ends on a live node: the
// handler sees that the run was interrupted (its state is still running)
// and re-runs it or fails it. The dead node's job stays in river until
// river's rescuer finds it; by then the run is carried by the new job and
// the old one ends without doing anything. It returns how many runs it
// adopted. At start (starting true) the runs recorded under this node's
// own name count too: they belong to a previous process.
func (q *Queue) Recover(ctx context.Context, st *store.Store, steps func(store.Run) int, staleAfter time.Duration, starting bool) (int, error) {
	orphans, err := st.Orphans(ctx, nil, q.cfg.NodeID, starting, staleAfter)
	if err != nil {
		return 0, fmt.Errorf("looking for orphaned runs: %w", err)
	}
	// A node killed after the queue handed it a job but before it marked
	// the run running leaves a queued run whose job is "running".
	fetched, err := st.FetchedOrphans(ctx, nil, q.cfg.NodeID, starting, staleAfter)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for _, o := range orphans {
		seen[o.ID] = true
	}
	for _, o := range fetched {
		if !seen[o.ID] {
			orphans = append(orphans, o)
		}
	}
	n := 0
	for _, o := range orphans {
		err := q.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := st.AdoptOrphan(ctx, tx, o, q.cfg.NodeID)
			if err != nil || !ok {
				return err
			}
			r, err := st.GetRun(ctx, tx, o.ID)
			if err != nil {
				return err
			}
			id, err := q.EnqueueRun(ctx, tx, o.ID, steps(r), time.Time{})
			if err != nil {
				return err
			}
			n++
			q.cfg.Logger.Warn("recovering a run whose node stopped", "run", o.ID, "node", o.Node, "job", id)
			return st.SetRunJob(ctx, tx, o.ID, id)
		})
		if err != nil {
			return n, fmt.Errorf("recovering run %s: %w", o.ID, err)
		}
	}
	if err := q.recoverDeliveries(ctx, st, staleAfter, starting); err != nil {
		return n, err
	}
	return n, nil
}

// errTaken rolls back the adoption of a delivery another node adopted.
var errTaken = errors.New("adopted by another node")

// recoverDeliveries hands every webhook delivery that a dead node was
// making to a new job, at once: the dead node's job stays running in
// river until river's rescuer finds it (hours later), and then finds
// that it no longer carries the delivery. The interrupted attempt is
// made again with the same number.
func (q *Queue) recoverDeliveries(ctx context.Context, st *store.Store, staleAfter time.Duration, starting bool) error {
	orphans, err := st.OrphanDeliveries(ctx, nil, q.cfg.NodeID, starting, staleAfter)
	if err != nil {
		return fmt.Errorf("looking for orphaned webhook deliveries: %w", err)
	}
	for _, o := range orphans {
		err := q.db.InTx(ctx, func(tx *store.Tx) error {
			id, err := q.EnqueueWebhook(ctx, tx, o.RunID, o.Attempt-1)
			if err != nil {
				return err
			}
			ok, err := st.AdoptDelivery(ctx, tx, o, id)
			if err != nil {
				return err
			}
			if !ok {
				return errTaken
			}
			q.cfg.Logger.Warn("recovering a webhook delivery whose node stopped", "run", o.RunID, "node", o.Node, "attempt", o.Attempt, "job", id)
			return nil
		})
		if err != nil && !errors.Is(err, errTaken) {
			return fmt.Errorf("recovering the webhook delivery of run %s: %w", o.RunID, err)
		}
	}
	return nil
}
