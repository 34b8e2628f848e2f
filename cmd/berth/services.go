package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/server/client"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
	"github.com/berth-dev/berth/service/systemd"
)

func init() { subcommands = append(subcommands, newServicesCmd) }

// servicesFlags are shared by every `berth services` subcommand.
type servicesFlags struct {
	file     string
	stateDir string
	project  string
	engine   string
	runtime  string
	verbose  bool
	replace  bool
	// server and tokenFile name the daemon (--server, --token-file).
	server, tokenFile string
}

// Environment variables that stand in for --project and --state-dir.
const (
	envServicesProject  = "BERTH_SERVICES_PROJECT"
	envServicesStateDir = "BERTH_SERVICES_STATE_DIR"
)

// setting is a value and where it came from, for --verbose.
type setting struct{ value, from string }

// firstSet returns the first candidate with a value.
func firstSet(candidates ...setting) (setting, bool) {
	for _, c := range candidates {
		if c.value != "" {
			return c, true
		}
	}
	return setting{}, false
}

// resolve settles the project and the state directory, each from the
// first of: its flag, its environment variable, (the project only) the
// services file's project: key (sf may be nil), the default. It logs
// which source won.
func (f *servicesFlags) resolve(cmd *cobra.Command, sf *spec.File, log *slog.Logger) error {
	f.resolveProject(cmd, sf, log)
	return f.resolveStateDir(cmd, log)
}

// changed is the flag's value when it was given on the command line.
func changed(cmd *cobra.Command, name, value string) string {
	if cmd.Flags().Changed(name) {
		return value
	}
	return ""
}

func (f *servicesFlags) resolveProject(cmd *cobra.Command, sf *spec.File, log *slog.Logger) {
	fileProject := setting{}
	if sf != nil {
		fileProject = setting{sf.Project, "project: in " + sf.Path}
	}
	project, _ := firstSet(
		setting{changed(cmd, "project", f.project), "--project"},
		setting{os.Getenv(envServicesProject), "$" + envServicesProject},
		fileProject,
		setting{"default", "the default"})
	f.project = project.value
	log.Info("project", "name", f.project, "from", project.from)
}

func (f *servicesFlags) resolveStateDir(cmd *cobra.Command, log *slog.Logger) error {
	dir, ok := firstSet(
		setting{changed(cmd, "state-dir", f.stateDir), "--state-dir"},
		setting{os.Getenv(envServicesStateDir), "$" + envServicesStateDir})
	if !ok {
		d, err := service.DefaultStateDir(f.project, os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
		if err != nil {
			return badInput("%v: give one with --state-dir or $%s", err, envServicesStateDir)
		}
		dir = setting{d, "the default"}
	}
	f.stateDir = dir.value
	log.Info("state directory", "dir", f.stateDir, "from", dir.from)
	return nil
}

// peekFile is the services file for the commands that do not need one
// (status, logs, restart, down): only its project: key (and for down its
// order) is used, and a missing or invalid file is no error.
func (f *servicesFlags) peekFile() *spec.File {
	name := f.file
	if name == "" {
		name = defaultServicesFile
	}
	sf, err := spec.Load(name)
	if err != nil {
		return nil
	}
	return sf
}

const defaultServicesFile = "services.yaml"

// dir is the state directory, once resolve has run.
func (f *servicesFlags) dir() string { return f.stateDir }

func (f *servicesFlags) load() (*spec.File, error) {
	sf, err := spec.Load(f.file)
	if err != nil {
		return nil, &exitError{exitBadInput, err}
	}
	if f.replace {
		for _, c := range sf.Containers {
			c.Replace = true
		}
	}
	return sf, nil
}

// client returns the engine client for backend ("" = from the state).
func (f *servicesFlags) client(backend string, log *slog.Logger) *engine.Client {
	bin := f.engine
	if bin == "" {
		bin = backend
	}
	return engine.New(bin, engine.WithRuntime(f.runtime), engine.WithLogger(log))
}

func newServicesCmd() *cobra.Command {
	f := &servicesFlags{}
	cmd := &cobra.Command{
		Use:   "services",
		Short: "Keep declared containers running (NixOS oci-containers compatible)",
		Long: `berth services reads a services file (YAML or JSON; the JSON of
nix eval --json ...config.virtualisation.oci-containers is accepted as is)
and keeps its containers running in dependency order, with or without
systemd: in the foreground (up), or handed to the berth daemon (up -d,
berth serve), which keeps them running after the command ends. See
docs/services.md.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.project, "project", "", "project name: labels the containers (berth.project) and names the state directory (default $"+envServicesProject+", else the project: of the services file — -f of up, down and plan; ./services.yaml for status, logs and restart — else default)")
	pf.StringVar(&f.stateDir, "state-dir", "", "state directory (default $"+envServicesStateDir+", else /run/berth/services/PROJECT as root, $XDG_RUNTIME_DIR/berth/services/PROJECT as another user)")
	pf.StringVar(&f.engine, "engine", "", "docker/podman binary (default: the file's backend, from PATH)")
	pf.StringVar(&f.runtime, "runtime", os.Getenv("BERTH_PODMAN_RUNTIME"), "podman OCI runtime (--runtime), e.g. runc where crun refuses hybrid cgroups; $BERTH_PODMAN_RUNTIME")
	pf.BoolVarP(&f.verbose, "verbose", "v", false, "log what berth does")
	// -f is the services file, except for logs, where it is --follow.
	for _, sub := range []*cobra.Command{newServicesUpCmd(f), newServicesDownCmd(f), newServicesPlanCmd(f)} {
		sub.Flags().StringVarP(&f.file, "file", "f", defaultServicesFile, "services file (YAML or JSON)")
		if sub.Name() != "down" {
			sub.Flags().BoolVar(&f.replace, "replace", false, "remove a container of a declared name that berth did not create for this project (default: refuse to start), as replace: true on every container")
		}
		cmd.AddCommand(sub)
	}
	cmd.AddCommand(newServicesStatusCmd(f), newServicesLogsCmd(f), newServicesRestartCmd(f), newServicesGenerateCmd(f))
	for _, sub := range cmd.Commands() {
		switch sub.Name() {
		case "up", "down", "status", "logs", "restart":
			f.addAPIFlags(sub)
		}
	}
	return cmd
}

func servicesLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newServicesUpCmd(f *servicesFlags) *cobra.Command {
	var (
		detach, wait bool
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up [NAME...]",
		Short: "Start the containers (all autoStart ones, or NAME and its dependencies) and supervise them in the foreground, or with -d hand them to the daemon",
		Long: `up applies the plan (see plan), then keeps every container running: in
dependency order (a dependsOn condition may wait for healthy or
completed-successfully), creating the declared networks and volumes a
container uses, following health checks (onUnhealthy), restarting with
backoff, until SIGINT/SIGTERM or 'berth services down'; then it stops them
in reverse order and removes them.

With -d (--detach) up does none of that itself: it sends the file (its
absolute path and its text) to the running berth daemon ('berth serve', at
--server), which keeps the containers running after up exits, prints what
the daemon answered and exits. Sending the file again replaces the one
sent before; containers that did not change keep running. --wait then
waits until every container runs (healthy, when it has a health check) or
completed, and fails when one failed.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if !detach && (wait || cmd.Flags().Changed("timeout")) {
				return badInput("--wait and --timeout go with -d (the foreground up supervises until stopped)")
			}
			sf, err := f.load()
			if err != nil {
				return err
			}
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			if detach {
				f.resolveProject(cmd, sf, log)
				return upDetached(cmd, f, names, wait, timeout, log)
			}
			if err := f.resolve(cmd, sf, log); err != nil {
				return err
			}
			noJournald := !service.JournaldRunning()
			if noJournald {
				for _, n := range sf.Names() {
					if sf.Containers[n].LogDriver == "journald" {
						fmt.Fprintf(cmd.ErrOrStderr(), "berth: journald is not running here: containers with log-driver journald use %s's default log driver\n", sf.Backend)
						break
					}
				}
			}
			out := cmd.ErrOrStderr()
			sup, err := service.New(service.Config{
				Spec: sf, Engine: f.client(sf.Backend, log), StateDir: f.dir(), Project: f.project, Names: names,
				NoJournald: noJournald, Logger: log,
				OnPlan: func(p *service.Plan) { printPlan(out, p) },
				OnChange: func(st service.Status) {
					fmt.Fprintf(out, "%s %-20s %-8s %s\n", time.Now().Format(time.TimeOnly), st.Name, st.State, statusDetail(st))
				},
			})
			if err != nil {
				return &exitError{exitBadInput, err}
			}
			// Said before anything is printed as being supervised.
			if h := service.Holder(f.dir()); h != nil {
				return h
			}
			fmt.Fprintf(out, "berth: supervising %s (state in %s); Ctrl-C stops everything\n", sf.Path, f.dir())
			done := make(chan struct{})
			defer close(done)
			go forceOnSecondSignal(out, sup, done)
			return sup.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "hand the file to the running berth daemon (--server), which supervises the containers, and exit")
	cmd.Flags().BoolVar(&wait, "wait", false, "with -d, wait until every container runs (healthy, when it has a check) or completed; exit 1 when one failed")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, give up (exit 1) after this long (0: wait for ever)")
	return cmd
}

// forceOnSecondSignal: the first SIGINT/SIGTERM cancels the command's
// context (main), which starts the ordered stop with each container's
// grace; a second one kills what is still stopping.
func forceOnSecondSignal(out io.Writer, sup *service.Supervisor, done <-chan struct{}) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for n := 1; ; n++ {
		select {
		case <-sigs:
		case <-done:
			return
		}
		if n == 1 {
			fmt.Fprintln(out, "berth: stopping the containers (each gets its grace); press Ctrl-C again to kill them now")
			continue
		}
		fmt.Fprintln(out, "berth: killing the containers")
		sup.Force()
	}
}

func newServicesDownCmd(f *servicesFlags) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the project's supervisor (a foreground up, else the daemon) and remove every container (and network berth created) of the project; volumes are kept",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			sf := f.peekFile() // optional: orders the cleanup
			if err := f.resolve(cmd, sf, log); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// A daemon's supervisor may hold this very state directory:
			// then the daemon must forget the project too, or its next
			// start would bring it back.
			local := f.localSupervisor(log)
			daemon, err := f.askDaemon(ctx, log)
			if err != nil {
				return err
			}
			if p := daemon.project; p != nil && (!local || sameDir(p.StateDir, f.dir())) {
				if local {
					log.Info("supervisor", "which", "daemon", "why", "it holds the state directory")
				}
				res, err := daemon.c.DownServices(ctx, f.project)
				if err != nil {
					return daemonError(daemon.c, err)
				}
				printDaemonDown(cmd.OutOrStdout(), cmd.ErrOrStderr(), res)
				return nil
			}
			backend := ""
			if sf != nil {
				backend = sf.Backend
			} else if snap, err := service.ReadSnapshot(f.dir()); err == nil {
				backend = snap.Backend
			}
			if backend == "" && f.engine == "" {
				return withHint(badInput("cannot tell the backend: no readable %s and no state in %s (use --engine)", f.file, f.dir()), daemon, f.project)
			}
			eng := f.client(backend, log)
			// The daemon's supervisor, found in the state directory, when
			// the daemon did not answer for the project (no token, a bad
			// one, or not running).
			var byDaemon *service.Snapshot
			if snap, err := service.ReadSnapshot(f.dir()); err == nil && snap.Supervisor == service.SupervisorDaemon {
				byDaemon = snap
			}
			errOut := cmd.ErrOrStderr()
			switch {
			case byDaemon != nil && local:
				fmt.Fprintf(errOut, "berth: project %s is supervised by the berth daemon (pid %d), which did not answer at %s (%s); stopping it through its control socket: the daemon stops and removes its containers, and forgets a handed-over file\n",
					f.project, byDaemon.Pid, daemon.c.BaseURL, daemonWhy(daemon))
			case byDaemon != nil && client.StatusOf(daemon.why) != 404:
				defer fmt.Fprintf(errOut, "berth: warning: the berth daemon last supervised project %s and is not running (%s): its containers are removed now, but the daemon keeps its file (berth.yaml's services:, or one handed over with up -d) and starts the project again when it starts; run `berth services down` while it runs to make it forget the project\n",
					f.project, daemonWhy(daemon))
			}
			return service.Down(ctx, f.dir(), func(ctx context.Context) error {
				removed, err := service.RemoveProject(ctx, eng, sf, f.project)
				for _, n := range removed {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", n)
				}
				// The networks up created for the project; never its
				// volumes, nor a network berth did not create.
				nets, nerr := service.RemoveNetworks(ctx, eng, f.project)
				for _, n := range nets {
					fmt.Fprintf(cmd.OutOrStdout(), "removed network %s\n", n)
				}
				return errors.Join(err, nerr)
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for everything to stop")
	return cmd
}

func newServicesStatusCmd(f *servicesFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of every container of the project, from its foreground supervisor or else the daemon",
		Long: `status shows each container's state. It asks the foreground supervisor
(berth services up) holding the project's state directory; when none
does, the berth daemon at --server; when that does not supervise the
project either, it shows the last state the state directory kept.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			if err := f.resolve(cmd, f.peekFile(), log); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var daemon daemonLookup
			if !f.localSupervisor(log) {
				var err error
				if daemon, err = f.askDaemon(cmd.Context(), log); err != nil {
					return err
				}
				if p := daemon.project; p != nil {
					if asJSON {
						return printRaw(w, p.Raw)
					}
					printDaemonProject(w, daemon.c, *p)
					return nil
				}
			}
			snap, err := service.ReadSnapshot(f.dir())
			if err != nil {
				return withHint(&exitError{3, err}, daemon, f.project)
			}
			if asJSON {
				return writeJSON(w, snap)
			}
			if !snap.Alive {
				if st := client.StatusOf(daemon.why); st == 401 || st == 403 {
					fmt.Fprintf(cmd.ErrOrStderr(), "berth: %s\n", daemon.hint(f.project))
				}
				fmt.Fprintf(w, "supervisor not running; last state from %s:\n", snap.Updated.Format(time.DateTime))
			}
			printStatusTable(w, snap.Services)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
	return cmd
}

// printStatusTable prints the status table, then the last log lines of
// each container in backoff or failed.
func printStatusTable(w io.Writer, services []service.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tDETAIL")
	for _, st := range services {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Name, st.State, st.Since.Format(time.TimeOnly), statusDetail(st))
	}
	tw.Flush()
	for _, st := range services {
		if (st.State == service.Backoff || st.State == service.Failed) && len(st.LastLog) > 0 {
			fmt.Fprintf(w, "\nlast log lines of %s:\n  %s\n", st.Name, strings.Join(st.LastLog, "\n  "))
		}
	}
}

// statusDetail is the DETAIL column: what matters in that state, in one
// line.
func statusDetail(st service.Status) string {
	var d []string
	switch st.State {
	case service.Running, service.Unhealthy:
		d = append(d, fmt.Sprintf("container %s, pid %d", st.ContainerID, st.Pid))
	}
	if st.Health != "" {
		d = append(d, "health "+st.Health)
	}
	switch st.State {
	case service.Backoff:
		d = append(d, fmt.Sprintf("attempt %d, next try %s", st.Attempt, st.NextTry.Format(time.TimeOnly)))
	}
	if st.State != service.Running && st.LastExitCode != nil {
		d = append(d, fmt.Sprintf("last exit %d", *st.LastExitCode))
	}
	if st.Reason != "" {
		d = append(d, service.OneLine(st.Reason, service.MaxLineWidth))
	}
	if st.LastError != "" && st.State != service.Running {
		// One line: the whole error is in the log and in status --json.
		line := st.LastErrorLine
		if line == "" { // a state written by an older berth
			line = service.OneLine(st.LastError, service.MaxLineWidth)
		}
		d = append(d, line)
	}
	if st.Restarts > 0 {
		d = append(d, fmt.Sprintf("%d restarts", st.Restarts))
	}
	return strings.Join(d, "; ")
}

func newServicesLogsCmd(f *servicesFlags) *cobra.Command {
	var (
		follow, timestamps bool
		tail               int
	)
	cmd := &cobra.Command{
		Use:   "logs [NAME]",
		Short: "Print a container's log (its output and berth's notes), or all of the project's, merged by time",
		Long: `logs prints what a container wrote and berth's notes about it. Without
NAME it prints the logs of every container of the project, each line
prefixed with its container's name and the lines ordered by the time
berth received them (coloured per container on a terminal, unless
NO_COLOR is set).

It reads the logs in the project's state directory while a foreground
supervisor (berth services up) holds it; else it asks the berth daemon
at --server, when that supervises the project (-f then asks it again
every second); else it reads what the state directory kept.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			if err := f.resolve(cmd, f.peekFile(), log); err != nil {
				return err
			}
			var daemon daemonLookup
			if !f.localSupervisor(log) {
				var err error
				if daemon, err = f.askDaemon(cmd.Context(), log); err != nil {
					return err
				}
				if daemon.project != nil {
					name := ""
					if len(args) > 0 {
						name = args[0]
					}
					if err := daemonLogs(cmd.Context(), daemon.c, f.project, name, tail, follow, timestamps, cmd.OutOrStdout()); err != nil {
						return daemonError(daemon.c, err)
					}
					return nil
				}
			}
			names := args
			if len(names) == 0 {
				var err error
				if names, err = projectLogNames(f.dir()); err != nil {
					return withHint(&exitError{3, err}, daemon, f.project)
				}
			}
			p := newLogPrinter(cmd.OutOrStdout(), names, len(args) == 0, timestamps)
			err := service.Logs(cmd.Context(), f.dir(), names, service.LogOptions{Tail: tail, Follow: follow}, p.print)
			if errors.Is(err, service.ErrNoLog) {
				return withHint(&exitError{3, err}, daemon, f.project)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines (until Ctrl-C)")
	cmd.Flags().IntVarP(&tail, "tail", "n", -1, "start with the last N lines of each log (-1: all of it)")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "print the time berth received each line (UTC)")
	return cmd
}

// projectLogNames are the containers whose logs `logs` without NAME
// prints: those of the state, else every log in the state directory.
func projectLogNames(stateDir string) ([]string, error) {
	if snap, err := service.ReadSnapshot(stateDir); err == nil && len(snap.Services) > 0 {
		names := make([]string, len(snap.Services))
		for i, st := range snap.Services {
			names[i] = st.Name
		}
		return names, nil
	}
	names, err := service.LogNames(stateDir)
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("no logs in %s: %w", stateDir, service.ErrNoState)
	}
	return names, err
}

func newServicesRestartCmd(f *servicesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a container (and its dependents) through the project's supervisor (a foreground up, else the daemon); resets a failed one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			if err := f.resolve(cmd, f.peekFile(), log); err != nil {
				return err
			}
			if !f.localSupervisor(log) {
				daemon, err := f.askDaemon(cmd.Context(), log)
				if err != nil {
					return err
				}
				if daemon.project == nil {
					return withHint(&exitError{3, fmt.Errorf("%s: %w", f.dir(), service.ErrNotRunning)}, daemon, f.project)
				}
				if err := daemon.c.RestartService(cmd.Context(), f.project, args[0]); err != nil {
					return daemonError(daemon.c, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restarting %s\n", args[0])
				return nil
			}
			if err := service.Control(cmd.Context(), f.dir(), "restart", args[0]); err != nil {
				if errors.Is(err, service.ErrNotRunning) {
					return &exitError{3, err}
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restarting %s\n", args[0])
			return nil
		},
	}
}

func newServicesPlanCmd(f *servicesFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan [NAME...]",
		Short: "Show what up would do against what runs now: create, recreate, remove, unchanged",
		RunE: func(cmd *cobra.Command, names []string) error {
			sf, err := f.load()
			if err != nil {
				return err
			}
			log := servicesLogger(cmd.ErrOrStderr(), f.verbose)
			if err := f.resolve(cmd, sf, log); err != nil {
				return err
			}
			p, err := service.ComputePlan(cmd.Context(), f.client(sf.Backend, log), sf, f.project, names)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), p)
			}
			printPlan(cmd.OutOrStdout(), p)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

// lookupUser is what a rootless podman unit needs of podman.user, from
// this host's user database and logind's linger directory.
func lookupUser(name string) (systemd.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return systemd.User{}, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return systemd.User{}, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	_, lerr := os.Stat(filepath.Join("/var/lib/systemd/linger", name))
	return systemd.User{UID: uid, Home: u.HomeDir, Linger: lerr == nil}, nil
}

// writeFileMode replaces path with data in mode: written to a new file
// created with that mode, then renamed, so an existing file's looser mode
// never applies to a secret and no half-written file is left.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func printPlan(w io.Writer, p *service.Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tNAME\tREASON")
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Action, c.Name, c.Reason)
	}
	tw.Flush()
}

func newServicesGenerateCmd(f *servicesFlags) *cobra.Command {
	gen := &cobra.Command{Use: "generate", Short: "Generate configuration for other supervisors"}
	var out string
	sd := &cobra.Command{
		Use:   "systemd",
		Short: "Write one systemd unit per container, equivalent to NixOS's oci-containers units",
		RunE: func(cmd *cobra.Command, _ []string) error {
			sf, err := f.load()
			if err != nil {
				return err
			}
			o := systemd.Options{}
			bin := f.engine
			if bin == "" {
				bin = sf.Backend
			}
			if p, err := exec.LookPath(bin); err == nil {
				o.EnginePath, _ = filepath.Abs(p)
			}
			if sf.Backend == spec.BackendPodman && f.runtime != "" {
				o.GlobalArgs = []string{"--runtime", f.runtime}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if o.Dir, err = filepath.Abs(out); err != nil {
				return err
			}
			o.LookupUser = lookupUser
			files, err := systemd.Units(sf, o)
			if err != nil {
				return &exitError{exitBadInput, err}
			}
			for _, u := range files {
				p := filepath.Join(out, u.Name)
				if err := writeFileMode(p, []byte(u.Content), u.Mode); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	sd.Flags().StringVarP(&out, "output", "o", ".", "directory to write the units to")
	sd.Flags().StringVarP(&f.file, "file", "f", defaultServicesFile, "services file (YAML or JSON)")
	gen.AddCommand(sd)
	return gen
}
