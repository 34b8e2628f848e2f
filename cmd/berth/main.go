// Command berth runs third-party addons and supervises containers.
//
// This package only parses flags and prints; everything it does lives in
// the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/buildinfo"
	"github.com/berth-dev/berth/sandbox/builtin"
)

// subcommands is filled by the init functions of the files in this package,
// one file per command group, so that groups can be added independently.
var subcommands []func() *cobra.Command

// exitError carries a process exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Run other people's programs safely, and tell the host what happened",
		Long: `berth runs addons (Docspell's addon format) with a choice of runners and
sandboxes, supervises declared containers, and serves both as a daemon.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	bi := buildinfo.Get()
	root.Version = bi.Version
	root.SetVersionTemplate(fmt.Sprintf("berth %s (commit %s, %s)\n", bi.Version, bi.Commit, bi.GoVersion))
	root.PersistentFlags().String("config", "", "configuration file (default: ./berth.yaml, then $XDG_CONFIG_HOME/berth/berth.yaml, /etc/berth/berth.yaml)")
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	usageErrorsAreBadInput(root)
	return root
}

// usageErrorsAreBadInput makes flag and argument errors of every command
// exit with exitBadInput, as docs/cli.md promises, instead of 1.
func usageErrorsAreBadInput(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{exitBadInput, err}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.Runnable() && c.HasSubCommands() {
			// A group (berth, berth addon …) shows its help when called
			// alone, and refuses a misspelt subcommand instead of
			// showing the help with status 0.
			c.Args = func(cmd *cobra.Command, a []string) error {
				if len(a) == 0 {
					return nil
				}
				msg := fmt.Sprintf("unknown command %q for %q", a[0], cmd.CommandPath())
				if cmd.SuggestionsMinimumDistance <= 0 {
					cmd.SuggestionsMinimumDistance = 2
				}
				if s := cmd.SuggestionsFor(a[0]); len(s) > 0 {
					msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
				}
				return errors.New(msg)
			}
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return &exitError{exitBadInput, err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func main() {
	// berth re-executes itself as the init of its own sandbox (and as a
	// helper that joins cgroups before systemd-nspawn starts).
	if builtin.IsInit() {
		builtin.Init() // never returns
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "berth:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}
