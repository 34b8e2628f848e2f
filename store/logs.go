package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Log streams: where a stored line came from.
const (
	// StreamStderr is an addon's stderr.
	StreamStderr = "stderr"
	// StreamBuild is the output of a docker or nix build for the run.
	StreamBuild = "build"
	// StreamBerth is berth's own note: an attempt starting, lines
	// dropped over the cap.
	StreamBerth = "berth"
)

// LogLine is one stored line of a run's log. Seq numbers the lines of a
// run in the order they were stored, over every attempt; it is the
// cursor a follower resumes from. Dropped is set on the marker line
// that stands for lines left out over the cap.
type LogLine struct {
	Seq     int64
	Attempt int
	Stream  string
	Time    time.Time
	Line    string
	Dropped int64
}

// LogState is what a node that starts writing an attempt's lines needs
// to know of the lines stored already.
type LogState struct {
	// Lines counts the stored lines of the run (markers included).
	Lines int64
	// MaxSeq is the highest seq stored, 0 for none.
	MaxSeq int64
}

// RunLogState returns how many lines run id has stored and its highest
// seq.
func (s *Store) RunLogState(ctx context.Context, q Querier, id string) (LogState, error) {
	v, err := queryAll(ctx, s.q(q), func(r Rows) (LogState, error) {
		var st LogState
		return st, r.Scan(&st.Lines, &st.MaxSeq)
	}, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM berth_run_logs WHERE run_id = $1`, id)
	if err != nil || len(v) == 0 {
		return LogState{}, fmt.Errorf("reading the log of run %s: %w", id, err)
	}
	return v[0], nil
}

// logInsertBatch bounds the rows of one INSERT (SQLite allows 32766
// parameters; 7 a row).
const logInsertBatch = 500

// AppendLogs stores lines of run id, each with its own seq. A seq that
// is stored already is ErrConflict (another writer numbered it: the
// caller renumbers).
func (s *Store) AppendLogs(ctx context.Context, q Querier, id string, lines []LogLine) error {
	for len(lines) > 0 {
		n := min(len(lines), logInsertBatch)
		var b strings.Builder
		b.WriteString(`INSERT INTO berth_run_logs (run_id, seq, attempt, stream, ts_ms, line, dropped) VALUES `)
		args := make([]any, 0, n*7)
		for i, l := range lines[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			k := len(args)
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7)
			args = append(args, id, l.Seq, l.Attempt, l.Stream, ms(l.Time), l.Line, l.Dropped)
		}
		if _, err := s.q(q).Exec(ctx, b.String(), args...); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("storing log lines of run %s: %w", id, ErrConflict)
			}
			return fmt.Errorf("storing log lines of run %s: %w", id, err)
		}
		lines = lines[n:]
	}
	return nil
}

// PutLogMarker stores or replaces the line at m.Seq (the marker that
// counts the lines dropped over the cap).
func (s *Store) PutLogMarker(ctx context.Context, q Querier, id string, m LogLine) error {
	_, err := s.q(q).Exec(ctx, `INSERT INTO berth_run_logs (run_id, seq, attempt, stream, ts_ms, line, dropped) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (run_id, seq) DO UPDATE SET ts_ms = $5, line = $6, dropped = $7`,
		id, m.Seq, m.Attempt, m.Stream, ms(m.Time), m.Line, m.Dropped)
	if err != nil {
		return fmt.Errorf("storing the log marker of run %s: %w", id, err)
	}
	return nil
}

// DeleteLogRange removes the lines of run id with from <= seq <= to
// and returns how many there were.
func (s *Store) DeleteLogRange(ctx context.Context, q Querier, id string, from, to int64) (int64, error) {
	n, err := s.q(q).Exec(ctx, `DELETE FROM berth_run_logs WHERE run_id = $1 AND seq >= $2 AND seq <= $3`, id, from, to)
	if err != nil {
		return 0, fmt.Errorf("trimming the log of run %s: %w", id, err)
	}
	return n, nil
}

// RunLogs returns up to limit lines of run id after seq after, in order.
func (s *Store) RunLogs(ctx context.Context, q Querier, id string, after int64, limit int) ([]LogLine, error) {
	if limit <= 0 {
		limit = 1000
	}
	lines, err := queryAll(ctx, s.q(q), func(r Rows) (LogLine, error) {
		var l LogLine
		var t int64
		err := r.Scan(&l.Seq, &l.Attempt, &l.Stream, &t, &l.Line, &l.Dropped)
		l.Time = fromMS(t)
		return l, err
	}, `SELECT seq, attempt, stream, ts_ms, line, dropped FROM berth_run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the log of run %s: %w", id, err)
	}
	return lines, nil
}

// DeleteRunLogs removes every line of the runs ids (their records were
// removed).
func (s *Store) DeleteRunLogs(ctx context.Context, q Querier, ids []string) error {
	for _, id := range ids {
		if _, err := s.q(q).Exec(ctx, `DELETE FROM berth_run_logs WHERE run_id = $1`, id); err != nil {
			return fmt.Errorf("removing the log of run %s: %w", id, err)
		}
	}
	return nil
}

// DeleteOrphanLogs removes the lines of runs whose record is gone (a
// node stopped between removing a record and its lines).
func (s *Store) DeleteOrphanLogs(ctx context.Context, q Querier) (int64, error) {
	n, err := s.q(q).Exec(ctx, `DELETE FROM berth_run_logs WHERE NOT EXISTS (SELECT 1 FROM berth_runs r WHERE r.id = berth_run_logs.run_id)`)
	if err != nil {
		return 0, fmt.Errorf("removing the logs of removed runs: %w", err)
	}
	return n, nil
}
