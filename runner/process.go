package runner

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/berth-dev/berth/proc"
)

// RunProcess runs program (a path as the sandbox sees it) with the
// contract's arguments, environment and working directory inside sb. It
// is the shared Run of the process-based runners.
func RunProcess(ctx context.Context, sb Sandbox, program string, inv Invocation) (Exit, error) {
	view := sb.View(inv)
	log := inv.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("addon", inv.Addon.ID(), "run", inv.RunID, "sandbox", sb.Name())
	spec := proc.Spec{
		Path:      program,
		Args:      Args(inv.Addon, argsBase(view)),
		Dir:       view.Work,
		Env:       ContractEnv(inv, view),
		StdoutCap: inv.StdoutCap,
		KillGrace: inv.KillGrace,
		Marker:    inv.RunID,
		OnStdout:  func(l string) { log.Debug("stdout", "line", l) },
		OnStderr: func(l string) {
			log.Debug("stderr", "line", l)
			if inv.Stderr != nil {
				fmt.Fprintf(inv.Stderr, "[%s] %s\n", inv.Addon.Meta.Name, l)
			}
		},
	}
	w, err := sb.Wrap(ctx, spec, inv)
	if err != nil {
		return Exit{}, fmt.Errorf("sandbox %s: %w", sb.Name(), err)
	}
	res, err := proc.Run(ctx, w.Spec)
	exit := Exit{Code: res.ExitCode, Stdout: res.Stdout, StderrTail: res.StderrTail, Isolated: w.Isolated}
	if w.Finish != nil {
		exit.OutOfMemory = w.Finish(res)
	}
	if w.Limits != nil {
		exit.Limits = w.Limits()
	}
	return exit, err
}

// argsBase is where the user-input argument is rooted: relative to WORK
// (the working directory) in a view whose paths are relative, as
// Docspell's nspawn runner passes it (Context.scala:40-42), else WORK.
func argsBase(view Paths) string {
	if view.Relative {
		return ""
	}
	return view.Work
}
