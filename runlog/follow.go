package runlog

import (
	"context"
	"time"

	"github.com/berth-dev/berth/store"
)

// DefaultPoll is how often Follow looks for new lines.
const DefaultPoll = 250 * time.Millisecond

// pageLines is the most lines one read returns.
const pageLines = 1000

// Follow calls send with the lines of run id after the cursor after,
// in order, as they are stored by whichever node runs it, until the
// run is final and every line is sent (it returns the run's final
// state), ctx ends, or send fails. It polls the database every poll: one
// indexed read of the lines after the cursor and one of the run's
// state, however many lines come. After a poll that found no line,
// send is called with none, so that a caller can keep its connection
// alive.
func Follow(ctx context.Context, st *store.Store, id string, after int64, poll time.Duration, send func([]store.LogLine) error) (string, error) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
		// The state first: a Writer stores its last lines before the
		// attempt's end is recorded, so after a final state every line
		// is there to read.
		run, err := st.GetRun(ctx, nil, id)
		if err != nil {
			return "", err
		}
		sent := false
		for {
			lines, err := st.RunLogs(ctx, nil, id, after, pageLines)
			if err != nil {
				return "", err
			}
			if len(lines) > 0 {
				if err := send(lines); err != nil {
					return "", err
				}
				after = lines[len(lines)-1].Seq
				sent = true
			}
			if len(lines) < pageLines {
				break
			}
		}
		if !store.Final(run.State) && !sent {
			if err := send(nil); err != nil {
				return "", err
			}
		}
		if store.Final(run.State) {
			return run.State, nil
		}
		t.Reset(poll)
	}
}
