package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server/client"
	"github.com/berth-dev/berth/service"
)

// The services commands talk to a berth daemon (`berth serve`) when it,
// not a foreground `berth services up`, supervises the project: `up -d`
// hands it the file; status, logs, restart and down ask it when no local
// supervisor holds the project's state directory.

// addAPIFlags adds --server and --token-file, as the runs commands have.
func (f *servicesFlags) addAPIFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", serverFlagUsage)
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", tokenFileFlagUsage)
}

// daemonProbeTimeout bounds asking a daemon whether it holds a project,
// so that a daemon address that does not answer costs status no more.
const daemonProbeTimeout = 5 * time.Second

// daemonLookup is what a daemon said about the project.
type daemonLookup struct {
	c *client.Client
	// project is the daemon's project; nil when it does not supervise
	// it (or did not answer), then why says why.
	project *client.ServicesProject
	why     error
	// known are the projects the daemon supervises, when it does not
	// know the one asked for.
	known []string
}

// localSupervisor reports whether a foreground supervisor holds the
// state directory (the local supervisor is asked first).
func (f *servicesFlags) localSupervisor(log *slog.Logger) bool {
	if !service.Locked(f.dir()) {
		return false
	}
	// Its pid tells a foreground up from a daemon's supervisor, which
	// holds the same state directory when it runs as the same user.
	pid := 0
	if snap, err := service.ReadSnapshot(f.dir()); err == nil {
		pid = snap.Pid
	}
	log.Info("supervisor", "which", "local", "stateDir", f.dir(), "pid", pid)
	return true
}

// askDaemon asks the daemon whether it supervises f.project. Only a bad
// --token-file is an error: a daemon that does not answer, or does not
// know the project, is a lookup without a project.
func (f *servicesFlags) askDaemon(ctx context.Context, log *slog.Logger) (daemonLookup, error) {
	c, err := newAPIClient(f.server, f.tokenFile)
	if err != nil {
		return daemonLookup{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, daemonProbeTimeout)
	defer cancel()
	p, err := c.GetServices(ctx, f.project)
	if err != nil {
		log.Info("the berth daemon does not supervise the project", "url", c.BaseURL, "project", f.project, "why", err)
		d := daemonLookup{c: c, why: err}
		if client.StatusOf(err) == 404 {
			if l, lerr := c.ListServices(ctx); lerr == nil {
				for _, p := range l.Projects {
					d.known = append(d.known, p.Project)
				}
			}
		}
		return d, nil
	}
	log.Info("supervisor", "which", "daemon", "url", c.BaseURL, "project", p.Project, "source", p.Source, "stateDir", p.StateDir)
	return daemonLookup{c: c, project: &p}, nil
}

// hint says, for an error saying no local supervisor holds the project,
// what the daemon answered and where else to look.
func (d daemonLookup) hint(project string) string {
	if d.c == nil {
		return ""
	}
	switch st := client.StatusOf(d.why); st {
	case 401, 403:
		return fmt.Sprintf("the berth daemon at %s refused the token (HTTP %d): to ask it, give its token with --token-file or $BERTH_TOKEN", d.c.BaseURL, st)
	case 404:
		if len(d.known) > 0 {
			return fmt.Sprintf("the berth daemon at %s does not supervise project %s either; it supervises %s: name one with --project (the project is --project, $BERTH_SERVICES_PROJECT, else the project: of ./services.yaml, else default)", d.c.BaseURL, project, strings.Join(d.known, ", "))
		}
		return fmt.Sprintf("the berth daemon at %s does not supervise project %s either; a `berth serve` elsewhere (or running as another user) may: name it with --server or $BERTH_SERVER", d.c.BaseURL, project)
	case 0:
		return fmt.Sprintf("no berth daemon answers at %s either; a `berth serve` elsewhere (or running as another user) may hold project %s: name it with --server or $BERTH_SERVER", d.c.BaseURL, project)
	default:
		return fmt.Sprintf("the berth daemon at %s: %v", d.c.BaseURL, d.why)
	}
}

// daemonWhy says in a few words why the daemon gave no project.
func daemonWhy(d daemonLookup) string {
	if d.c == nil {
		return "no daemon configured"
	}
	switch st := client.StatusOf(d.why); st {
	case 401, 403:
		return fmt.Sprintf("it refused the token, HTTP %d: give it with --token-file or $BERTH_TOKEN", st)
	case 404:
		return "it does not know the project"
	case 0:
		return "no daemon answers there"
	default:
		return d.why.Error()
	}
}

// withHint adds the daemon's hint to err, keeping err's exit status.
func withHint(err error, d daemonLookup, project string) error {
	h := d.hint(project)
	if h == "" {
		return err
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code, err = ee.code, ee.err
	}
	return &exitError{code, fmt.Errorf("%w; %s", err, h)}
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	return aerr == nil && berr == nil && os.SameFile(ai, bi)
}

// daemonError makes an error of a request to the daemon say what to do:
// start one or name it (no answer), give the token (401), the daemon's
// own message (400, naming file and field; 409, naming who holds the
// project). 4xx answers exit with exitBadInput.
func daemonError(c *client.Client, err error) error {
	var ae *client.Error
	if !errors.As(err, &ae) {
		var ue *url.Error
		if errors.As(err, &ue) && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("no berth daemon answers at %s (%v): start one with `berth serve`, or give its address with --server or $BERTH_SERVER", c.BaseURL, ue.Err)
		}
		return err
	}
	switch ae.Status {
	case 401:
		return &exitError{exitBadInput, fmt.Errorf("the berth daemon at %s refused the request (%s: %s): give its token with --token-file or $BERTH_TOKEN", c.BaseURL, ae.Code, ae.Message)}
	case 409:
		return &exitError{exitBadInput, fmt.Errorf("the berth daemon at %s: %s (HTTP 409)", c.BaseURL, ae.Message)}
	}
	if ae.Status >= 400 && ae.Status < 500 {
		return &exitError{exitBadInput, fmt.Errorf("the berth daemon at %s: %w", c.BaseURL, ae)}
	}
	return fmt.Errorf("the berth daemon at %s: %w", c.BaseURL, ae)
}

// toStatus is the daemon's view of a container as service.Status, which
// the status table prints.
func toStatus(s client.ServiceStatus) service.Status {
	return service.Status{
		Name: s.Name, State: service.State(s.State), Since: s.Since, Reason: s.Reason,
		ContainerID: s.ContainerID, Pid: s.Pid, Health: s.Health, HealthOutput: s.HealthOutput,
		Attempt: s.Attempt, NextTry: s.NextTry, LastExitCode: s.LastExitCode, LastError: s.LastError,
		LastErrorLine: s.LastErrorLine, LastLog: s.LastLog, Restarts: s.Restarts,
	}
}

func toStatuses(ss []client.ServiceStatus) []service.Status {
	out := make([]service.Status, len(ss))
	for i, s := range ss {
		out[i] = toStatus(s)
	}
	return out
}

// sourceWords says where the daemon got a project's file.
func sourceWords(source string) string {
	switch source {
	case "api":
		return "handed over with up -d"
	case "config":
		return "from the services: section of berth.yaml"
	}
	return source
}

// printDaemonProject prints a project as `status` does, after a line
// saying which daemon supervises it and from which file.
func printDaemonProject(w io.Writer, c *client.Client, p client.ServicesProject) {
	switch p.State {
	case "held":
		fmt.Fprintf(w, "project %s is declared to the berth daemon at %s, but another supervisor holds it (%s); the daemon takes it up once that one ends\n", p.Project, c.BaseURL, p.Error)
	default:
		fmt.Fprintf(w, "project %s is supervised by the berth daemon at %s: %s\n", p.Project, c.BaseURL, p.State)
	}
	fmt.Fprintf(w, "file %s (%s), state in %s\n", p.File, sourceWords(p.Source), p.StateDir)
	switch {
	case p.Error == "", p.State == "held":
	case p.State == "stopped":
		fmt.Fprintf(w, "%s\n", p.Error)
	default:
		fmt.Fprintf(w, "error: %s\n", p.Error)
	}
	fmt.Fprintln(w)
	if len(p.Services) == 0 {
		fmt.Fprintln(w, "no container of it has been started")
		return
	}
	printStatusTable(w, toStatuses(p.Services))
}

// printDaemonDown prints what a down through the daemon removed, as a
// local down does ("removed NAME": the supervisor removes what it
// stops), and the daemon's note on what happens next.
func printDaemonDown(w, errw io.Writer, res client.ServicesDown) {
	seen := map[string]bool{}
	for _, n := range slices.Concat(res.Stopped, res.Removed) {
		if !seen[n] {
			seen[n] = true
			fmt.Fprintf(w, "removed %s\n", n)
		}
	}
	for _, n := range res.Networks {
		fmt.Fprintf(w, "removed network %s\n", n)
	}
	if res.Note != "" {
		fmt.Fprintf(errw, "berth: %s\n", res.Note)
	}
}

// upDetached hands the services file to the daemon (`up -d`), prints
// what it answered and, with wait, waits until every container it
// supervises for the project runs (healthy, when it has a check) or
// completed, failing when one failed.
func upDetached(cmd *cobra.Command, f *servicesFlags, names []string, wait bool, timeout time.Duration, log *slog.Logger) error {
	for _, fl := range []string{"state-dir", "engine", "runtime"} {
		if cmd.Flags().Changed(fl) {
			return badInput("--%s: with -d the daemon runs the containers with its own settings (drop --%s, or run up in the foreground)", fl, fl)
		}
	}
	abs, err := filepath.Abs(f.file)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(abs)
	if err != nil {
		return badInput("%v", err)
	}
	c, err := newAPIClient(f.server, f.tokenFile)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	log.Info("handing the services file to the daemon", "url", c.BaseURL, "project", f.project, "file", abs)
	p, err := c.PutServices(ctx, f.project, client.PutServicesRequest{File: abs, Spec: string(text), Names: names, Replace: f.replace})
	if err != nil {
		return daemonError(c, err)
	}
	w := cmd.OutOrStdout()
	if !wait {
		printDaemonProject(w, c, p)
		return nil
	}
	if timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// While it waits, each container's state and detail as they change,
	// as a foreground up prints them (the step of a long image load).
	shown := map[string]string{}
	for {
		done, failed := settled(p)
		if done {
			printDaemonProject(w, c, p)
			if len(failed) > 0 {
				return fmt.Errorf("project %s: %s did not come up (see `berth services status --project %s` and `berth services logs --project %s`; the daemon keeps the project until `berth services down --project %s`)",
					p.Project, strings.Join(failed, ", "), p.Project, p.Project, p.Project)
			}
			return nil
		}
		for _, st := range p.Services {
			line := fmt.Sprintf("%-20s %-8s %s", st.Name, st.State, st.Reason)
			if shown[st.Name] != line {
				shown[st.Name] = line
				fmt.Fprintf(w, "%s %s\n", time.Now().Format(time.TimeOnly), strings.TrimRight(line, " "))
			}
		}
		select {
		case <-ctx.Done():
			printDaemonProject(w, c, p)
			return fmt.Errorf("project %s: still not up after %s: %w", p.Project, timeout, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		if p, err = c.GetServices(ctx, p.Project); err != nil {
			return daemonError(c, err)
		}
	}
}

// settled reports whether every container of the project is up or
// failed (those are failed): running (healthy, when it has a check),
// exited 0 (completed) or failed. A project the daemon failed is
// settled with every container failed.
func settled(p client.ServicesProject) (done bool, failed []string) {
	if p.State == "failed" {
		for _, s := range p.Services {
			failed = append(failed, s.Name)
		}
		if len(failed) == 0 {
			failed = []string{"the project"}
		}
		return true, failed
	}
	if len(p.Services) == 0 {
		return false, nil
	}
	done = true
	for _, s := range p.Services {
		switch {
		case s.State == string(service.Running) && (s.Health == "" || s.Health == "healthy"):
		case s.State == string(service.Failed):
			failed = append(failed, s.Name)
		case s.State == string(service.Stopped) && s.LastExitCode != nil:
			// It ran and ended: restart no/on-failure.
			if *s.LastExitCode != 0 {
				failed = append(failed, s.Name)
			}
		default:
			done = false
		}
	}
	return done, failed
}

// followPoll is how often `logs -f` asks the daemon for new lines: the
// API has no follow endpoint for services.
const followPoll = time.Second

// daemonLogs prints the project's logs (name: one container's) as the
// daemon writes them; with follow it asks again every followPoll for the
// last lines and prints those after the last ones it printed, until ctx
// ends. Following asks for the lines' times, which tell a repeated line
// from one printed before, and drops them unless timestamps.
func daemonLogs(ctx context.Context, c *client.Client, project, name string, tail int, follow, timestamps bool, w io.Writer) error {
	if !follow {
		return c.ServiceLogs(ctx, project, name, client.ServiceLogsOptions{Tail: tail, Timestamps: timestamps}, w)
	}
	fetch := func(n int) ([]string, error) {
		var buf bytes.Buffer
		if err := c.ServiceLogs(ctx, project, name, client.ServiceLogsOptions{Tail: n, Timestamps: true}, &buf); err != nil {
			return nil, err
		}
		var lines []string
		sc := bufio.NewScanner(&buf)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return lines, sc.Err()
	}
	// The first answer also gives the last lines already there (printed
	// or not: --tail 0 prints none), after which the next ones are new.
	first := tail
	if tail >= 0 {
		first = max(tail, followOverlap)
	}
	lines, err := fetch(first)
	if err != nil {
		return err
	}
	var last []string // the last lines seen, to find the new ones
	show := func(ls []string) error {
		for _, l := range ls {
			if !timestamps {
				l = unstamp(l, name == "")
			}
			if _, err := fmt.Fprintln(w, l); err != nil {
				return err
			}
		}
		return nil
	}
	seen := func(ls []string) {
		last = append(last, ls...)
		if len(last) > followOverlap {
			last = slices.Clone(last[len(last)-followOverlap:])
		}
	}
	print := func(ls []string) error {
		err := show(ls)
		seen(ls)
		return err
	}
	// --tail is per container, as without -f: the daemon's answer holds
	// the last lines of each, merged by time.
	shown := lines
	if tail >= 0 {
		shown = lastOfEach(lines, tail, name == "")
	}
	if err := show(shown); err != nil {
		return err
	}
	seen(lines)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
		var fresh []string
		for window := 256; ; window *= 4 {
			lines, err := fetch(window)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			i, found := after(lines, last)
			if found || len(lines) < window || window >= 1<<20 {
				// Not found in the whole log: it was cut (or the
				// window is too small to tell): print all of it.
				fresh = lines[i:]
				break
			}
		}
		if err := print(fresh); err != nil {
			return err
		}
	}
}

// lastOfEach keeps, of merged lines ("NAME | …" when merged, else all
// one container's), the last n of each container, in their order.
func lastOfEach(lines []string, n int, merged bool) []string {
	count := map[string]int{}
	keep := make([]bool, len(lines))
	for i := len(lines) - 1; i >= 0; i-- {
		who := ""
		if merged {
			who, _, _ = strings.Cut(lines[i], " | ")
			who = strings.TrimSpace(who)
		}
		if count[who] < n {
			count[who]++
			keep[i] = true
		}
	}
	var out []string
	for i, l := range lines {
		if keep[i] {
			out = append(out, l)
		}
	}
	return out
}

// unstamp removes the time the daemon put in a line asked for with
// timestamps: after "NAME | " in a merged log, at the start of one
// container's; a line without one is left as it is.
func unstamp(line string, merged bool) string {
	prefix, rest := "", line
	if merged {
		i := strings.Index(line, " | ")
		if i < 0 {
			return line
		}
		prefix, rest = line[:i+3], line[i+3:]
	}
	n := len(logTimeLayout)
	if len(rest) <= n || rest[n] != ' ' {
		return line
	}
	if _, err := time.Parse(logTimeLayout, rest[:n]); err != nil && strings.TrimSpace(rest[:n]) != "" {
		return line
	}
	return prefix + rest[n+1:]
}

// followOverlap is how many of the last lines seen `logs -f` looks for
// in the daemon's next answer.
const followOverlap = 20

// after is the index in lines just after their last run of lines equal
// to the end of last (all of last, or as much of it as lines has at
// their start); found is false when last's end is not in lines.
func after(lines, last []string) (int, bool) {
	if len(last) == 0 {
		return 0, true
	}
	for end := len(lines); end > 0; end-- {
		k := min(len(last), end)
		if slices.Equal(lines[end-k:end], last[len(last)-k:]) {
			return end, true
		}
	}
	return 0, false
}
