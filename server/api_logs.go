package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/runlog"
	"github.com/berth-dev/berth/store"
)

// logLineView is one stored log line as the API shows it. Cursor is
// its seq as a string: GET …/logs?after=CURSOR (and an SSE event's id,
// so Last-Event-ID) resumes after it.
type logLineView struct {
	Seq     int64     `json:"seq"`
	Cursor  string    `json:"cursor"`
	Attempt int       `json:"attempt"`
	Stream  string    `json:"stream"`
	Time    time.Time `json:"time"`
	Line    string    `json:"line"`
	// Dropped, on a marker line (stream "berth"), counts the lines of
	// its attempt left out over serve.log-lines.
	Dropped int64 `json:"dropped,omitempty"`
}

// logsPage is the answer of GET /v1/runs/{id}/logs without follow.
type logsPage struct {
	RunID string        `json:"runId"`
	State string        `json:"state"`
	Lines []logLineView `json:"lines"`
	// Dropped counts the lines left out over serve.log-lines in all.
	Dropped int64 `json:"dropped"`
	// Next is the cursor of the last line given (or the one given when
	// there was none): pass it as after to read on.
	Next string `json:"next"`
	// More is true when limit cut the page short.
	More bool `json:"more"`
}

func viewLogLine(l store.LogLine) logLineView {
	return logLineView{Seq: l.Seq, Cursor: strconv.FormatInt(l.Seq, 10), Attempt: l.Attempt, Stream: l.Stream, Time: l.Time, Line: l.Line, Dropped: l.Dropped}
}

// legacyLogLines are the lines of a run stored by a berth before the
// log table (the last attempt's, in the run's record), numbered as the
// table would.
func legacyLogLines(run store.Run) []store.LogLine {
	if len(run.Logs) == 0 {
		return nil
	}
	var l runLogs
	if json.Unmarshal(run.Logs, &l) != nil {
		return nil
	}
	var out []store.LogLine
	if l.Dropped > 0 {
		out = append(out, store.LogLine{Stream: store.StreamBerth, Line: fmt.Sprintf("… %d lines dropped (serve.log-lines)", l.Dropped), Dropped: int64(l.Dropped)})
	}
	for _, line := range l.Lines {
		out = append(out, store.LogLine{Stream: store.StreamStderr, Line: line})
	}
	for i := range out {
		out[i].Seq, out[i].Attempt, out[i].Time = int64(i+1), run.Attempts, run.Finished
	}
	return out
}

// readLogs returns up to limit lines of run after the cursor after.
func (s *Server) readLogs(ctx context.Context, run store.Run, after int64, limit int) ([]store.LogLine, error) {
	if legacy := legacyLogLines(run); legacy != nil {
		if after >= int64(len(legacy)) {
			return nil, nil
		}
		return legacy[after:min(int64(len(legacy)), after+int64(limit))], nil
	}
	return s.st.RunLogs(ctx, nil, run.ID, after, limit)
}

// viewRunWithLogs is viewRun with the text of the run's stderr and
// build lines, as they are stored so far (a running run's too), and
// how many were dropped.
func (s *Server) viewRunWithLogs(ctx context.Context, run store.Run) (runView, error) {
	v := s.viewRun(run, true)
	if v.Logs != nil {
		return v, nil
	}
	l := runLogs{Lines: []string{}}
	for after := int64(0); ; {
		lines, err := s.st.RunLogs(ctx, nil, run.ID, after, 1000)
		if err != nil {
			return v, err
		}
		for _, line := range lines {
			// The addons' and builds' lines; berth's notes (an attempt
			// starting, the dropped-lines marker) only count.
			if line.Stream != store.StreamBerth {
				l.Lines = append(l.Lines, line.Line)
			}
			l.Dropped += int(line.Dropped)
		}
		if len(lines) < 1000 {
			break
		}
		after = lines[len(lines)-1].Seq
	}
	if len(l.Lines) > 0 {
		v.Logs = &l
	}
	return v, nil
}

// maxLogsLimit bounds a page of GET /v1/runs/{id}/logs.
const maxLogsLimit = 10000

// followKeepAlive is how often a follow stream without new lines sends
// a comment, so that proxies and clients see it is alive.
const followKeepAlive = 15 * time.Second

// runLogs answers GET /v1/runs/{id}/logs: the stored lines after the
// cursor after (all of them by default) or, with follow=true, a stream
// of Server-Sent Events until the run is final.
func (s *Server) runLogs(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, err := parseLogCursor("after", q.Get("after"))
	if err != nil {
		return err
	}
	follow := false
	switch v := q.Get("follow"); v {
	case "", "false", "0":
	case "true", "1":
		follow = true
	default:
		return errf(http.StatusBadRequest, codeInvalid, "follow: want true or false, not %q", v)
	}
	if follow {
		if id := r.Header.Get("Last-Event-ID"); id != "" && q.Get("after") == "" {
			if after, err = parseLogCursor("Last-Event-ID", id); err != nil {
				return err
			}
		}
		return s.followLogs(w, r, run, after)
	}
	limit := maxLogsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLogsLimit {
			return errf(http.StatusBadRequest, codeInvalid, "limit: want a number from 1 to %d", maxLogsLimit)
		}
		limit = n
	}
	lines, err := s.readLogs(r.Context(), run, after, limit+1)
	if err != nil {
		return err
	}
	page := logsPage{RunID: run.ID, State: run.State, Lines: []logLineView{}, Next: strconv.FormatInt(after, 10)}
	if len(lines) > limit {
		lines, page.More = lines[:limit], true
	}
	for _, l := range lines {
		page.Lines = append(page.Lines, viewLogLine(l))
		page.Next = strconv.FormatInt(l.Seq, 10)
	}
	// The total dropped, markers before after included.
	all, err := s.readLogs(r.Context(), run, 0, 1<<30)
	if err != nil {
		return err
	}
	for _, l := range all {
		page.Dropped += l.Dropped
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func parseLogCursor(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errf(http.StatusBadRequest, codeInvalid, "%s: %q is not a log cursor (the cursor or next of an earlier answer)", field, v)
	}
	return n, nil
}

// followLogs streams the run's lines as Server-Sent Events: "line"
// events (id: the line's cursor, data: the line's JSON), then one "end"
// event whose data is {"state": …} when the run is final. It reads the
// database only, so any node serves it, whichever runs the run.
func (s *Server) followLogs(w http.ResponseWriter, r *http.Request, run store.Run, after int64) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()
	// Each write gets request-timeout from now: the stream lasts as long
	// as the run, a client that stops reading is cut off.
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.set.RequestTimeout.Std()))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": following run " + run.ID + "\n\n")); err != nil {
		return nil
	}
	last := time.Now()
	send := func(lines []store.LogLine) error {
		if len(lines) == 0 {
			if time.Since(last) < followKeepAlive {
				return nil
			}
			last = time.Now()
			return write([]byte(": keep-alive\n\n"))
		}
		var buf []byte
		for _, l := range lines {
			data, _ := json.Marshal(viewLogLine(l))
			buf = fmt.Appendf(buf, "id: %d\nevent: line\ndata: %s\n\n", l.Seq, data)
		}
		last = time.Now()
		return write(buf)
	}
	var state string
	var err error
	if legacy := legacyLogLines(run); legacy != nil {
		lines, _ := s.readLogs(ctx, run, after, len(legacy))
		err, state = send(lines), run.State
	} else {
		state, err = runlog.Follow(ctx, s.st, run.ID, after, s.followPoll(), send)
	}
	if err != nil {
		// The client went away, the node is stopping or the database
		// failed: the stream just ends; the client resumes by cursor.
		if ctx.Err() == nil {
			s.log.Warn("following a run's logs", "run", run.ID, "err", err)
		}
		return nil
	}
	data, _ := json.Marshal(map[string]string{"state": state})
	_ = write(fmt.Appendf(nil, "event: end\ndata: %s\n\n", data))
	return nil
}

// followPoll is how often a follow stream reads the database: the
// node's poll interval, within 100 ms and 1 s.
func (s *Server) followPoll() time.Duration {
	return min(max(s.set.PollInterval.Std(), 100*time.Millisecond), time.Second)
}
