//go:build !daemon

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// The daemon is its own binary, berthd (this package built with -tags
// daemon): it links the HTTP server, the queue, both databases and the
// metrics, whose package initialisers and size every one-shot command
// paid for while they lived in berth (issue 15). `berth serve` replaces
// itself with `berthd serve ARGS`, so its flags, --help, exit statuses,
// signals and PID are the daemon's own.

func init() { subcommands = append(subcommands, newServeCmd) }

// DaemonName is the daemon binary that `berth serve` runs, looked for
// next to berth (symlinks resolved), then on PATH.
const DaemonName = "berthd"

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the addon daemon: HTTP API, persistent queue, schedules",
		Long: `serve runs berth as a daemon (the berthd binary installed beside berth);
` + "`berth serve --help`" + ` lists its flags. See docs/daemon.md.`,
		// Every argument, --help included, is berthd's to parse.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return execDaemon(cmd, args)
		},
	}
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if err := execDaemon(c, []string{"--help"}); err != nil {
			fmt.Fprintln(c.ErrOrStderr(), "berth:", err)
			os.Exit(1)
		}
	})
	return cmd
}

// execDaemon replaces this process with `berthd serve [--config FILE] ARGS`.
func execDaemon(cmd *cobra.Command, args []string) error {
	bin, err := daemonPath()
	if err != nil {
		return err
	}
	argv := []string{bin, "serve"}
	if f := cmd.Root().PersistentFlags().Lookup("config"); f != nil && f.Changed {
		argv = append(argv, "--config", f.Value.String())
	}
	argv = append(argv, args...)
	if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
		return fmt.Errorf("starting the daemon %s: %w", bin, err)
	}
	return nil // not reached
}

// daemonPath is berthd beside this executable, else on PATH. One beside
// berth that others could change is refused, not passed over.
func daemonPath() (string, error) {
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		p := filepath.Join(filepath.Dir(exe), DaemonName)
		if fi, err := os.Stat(p); err == nil {
			if err := trustDaemon(p, fi); err != nil {
				return "", err
			}
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("the daemon %s: %w", p, err)
		}
	}
	if p, err := exec.LookPath(DaemonName); err == nil {
		return p, nil
	}
	return "", badInput("berth serve runs %s, the daemon binary, which is neither beside berth nor on PATH: `make build` (or `make install`) puts it beside berth; from a source tree, `go run -tags daemon ./cmd/berth serve`", DaemonName)
}

// trustDaemon refuses a berthd that someone other than root or berth's
// user could replace: berth would run it as its own user.
func trustDaemon(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("the daemon %s is not an executable file", p)
	case fi.Mode()&0o022 != 0:
		return fmt.Errorf("the daemon %s is writable by others (mode %v): chmod go-w it", p, fi.Mode().Perm())
	case ok && st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("the daemon %s belongs to uid %d, neither root nor berth's user", p, st.Uid)
	}
	return nil
}
