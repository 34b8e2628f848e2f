package crashtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

// tryRun queues an ad hoc run without failing the test when the node
// is down (it is killed at random): ok is false then, and the run may or
// may not exist, so it is not counted.
func (d *daemon) tryRun(addonID, args string) (string, bool) {
	b, _ := json.Marshal(map[string]string{"addonId": addonID, "args": args})
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(d.url+"/v1/runs", "application/json", bytes.NewReader(b))
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var r run
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return "", false
	}
	return r.ID, true
}

// tryGet returns the run, or ok false when the node did not answer;
// found is false when it answered 404.
func (d *daemon) tryGet(id string) (r run, found, ok bool) {
	c := http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", d.url+"/v1/runs/"+id, nil)
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return r, false, false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return r, false, true
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return r, false, false
	}
	return r, true, true
}

// awaitFinal polls d for run id until it ends, the API no longer knows it
// (lost), or deadline passes (stuck; the last state seen is logged).
// A node that does not answer is asked again.
func awaitFinal(t *testing.T, d *daemon, id string, deadline time.Time) (r run, lost, stuck bool) {
	t.Helper()
	for {
		var found, ok bool
		r, found, ok = d.tryGet(id)
		if ok && !found {
			return r, true, false
		}
		if ok && final(r) {
			return r, false, false
		}
		if time.Now().After(deadline) {
			t.Logf("stuck: %+v", r)
			return r, false, true
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queuedRun is a run the API accepted, with the file its addon appends a
// line to on each execution.
type queuedRun struct {
	id, tally string
	pure      bool
}

// counts are what a crash may cost: lost is an accepted run the API no
// longer knows, stuck one that never ends, impureRepeated an impure run
// whose addon ran more than once.
type counts struct {
	accepted, lost, stuck, impureRepeated int
	pureSucceeded, pureFailed, pureRerun  int
	impureSucceeded, impureFailed         int
	kills                                 int
}

func (c counts) String() string {
	return fmt.Sprintf("accepted %d, kills %d: lost %d, stuck %d, impure repeated %d (pure: %d succeeded, %d failed, %d ran more than once; impure: %d succeeded, %d failed)",
		c.accepted, c.kills, c.lost, c.stuck, c.impureRepeated, c.pureSucceeded, c.pureFailed, c.pureRerun, c.impureSucceeded, c.impureFailed)
}

// loadAndKill queues total runs (alternately pure and impure, half before
// the first kill and half while nodes are being killed), kills a random
// node with SIGKILL every 150–450 ms kills times, restarting it each
// time, then waits for every run to end and counts.
func loadAndKill(t *testing.T, nodes []*daemon, total, kills int) counts {
	for _, d := range nodes {
		d.start()
	}
	pure, impure := nodes[0].install(fixture("record")), nodes[0].install(fixture("impure-record"))
	tallies := t.TempDir()
	var runs []queuedRun
	submit := func(i int) {
		q := queuedRun{tally: filepath.Join(tallies, fmt.Sprintf("run-%03d", i)), pure: i%2 == 0}
		addonID := impure
		if q.pure {
			addonID = pure
		}
		for _, d := range nodes[i%len(nodes):] {
			if d.cmd == nil {
				continue
			}
			if id, ok := d.tryRun(addonID, q.tally); ok {
				q.id = id
				runs = append(runs, q)
				return
			}
		}
	}
	i := 0
	for ; i < total/2; i++ {
		submit(i)
	}
	var c counts
	for range kills {
		// Keep submitting during the wait: some runs are stored just
		// before a kill and never got their job.
		wait := time.Now().Add(time.Duration(150+rand.IntN(300)) * time.Millisecond)
		for time.Now().Before(wait) {
			if i < total {
				submit(i)
				i++
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		victim := nodes[rand.IntN(len(nodes))]
		victim.kill()
		c.kills++
		victim.start()
	}
	for ; i < total; i++ {
		submit(i)
	}
	c.accepted = len(runs)

	deadline := time.Now().Add(60 * time.Second)
	for _, q := range runs {
		r, lost, stuck := awaitFinal(t, nodes[0], q.id, deadline)
		if lost {
			c.lost++
		}
		if stuck {
			c.stuck++
		}
		data, _ := os.ReadFile(q.tally)
		execs := strings.Count(string(data), "\n")
		switch {
		case q.pure && r.State == "succeeded":
			c.pureSucceeded++
		case q.pure && final(r):
			c.pureFailed++
			t.Logf("pure run failed: %+v", r)
		case r.State == "succeeded":
			c.impureSucceeded++
		case final(r):
			c.impureFailed++
		}
		if q.pure && execs > 1 {
			c.pureRerun++
		}
		if !q.pure && execs > 1 {
			c.impureRepeated++
			t.Logf("impure run executed %d times: %+v", execs, r)
		}
		if r.State == "succeeded" && execs == 0 {
			t.Errorf("run %+v succeeded without its addon running", r)
		}
	}
	return c
}

// The measure: kill -9 of loaded daemons, repeatedly, must end
// with 0 lost, 0 stuck and 0 impure runs repeated. Pure runs may run
// again (that is what pure means) and get enough retries here to
// outlast the kills; an impure run interrupted by a kill fails, saying
// so.
func TestKillMinus9UnderLoad(t *testing.T) {
	const total, kills = 200, 6
	common := []string{"--concurrency", "4", "--retries", "20"}
	for _, tc := range []struct {
		name  string
		nodes func(t *testing.T) []*daemon
	}{
		{"one node on sqlite", func(t *testing.T) []*daemon {
			return []*daemon{newDaemon(t, "solo", "", common...)}
		}},
		{"two nodes on postgres", func(t *testing.T) []*daemon {
			db := storetest.Postgres(t)
			return []*daemon{newDaemon(t, "node-1", db, common...), newDaemon(t, "node-2", db, common...)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadAndKill(t, tc.nodes(t), total, kills)
			t.Logf("kill -9 counts: %s", c)
			if c.lost != 0 || c.stuck != 0 || c.impureRepeated != 0 || c.pureFailed != 0 {
				t.Fatalf("kill -9 counts: %s; want 0 lost, 0 stuck, 0 impure repeated, 0 pure failed", c)
			}
			if c.accepted < total*9/10 {
				t.Fatalf("only %d of %d runs were accepted", c.accepted, total)
			}
		})
	}
}
