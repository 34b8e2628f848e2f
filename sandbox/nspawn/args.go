package nspawn

import (
	"strconv"

	"github.com/berth-dev/berth/runner"
)

// Invocation is everything one systemd-nspawn command line depends on.
type Invocation struct {
	// Machine is the container's unique name.
	Machine string
	// Root is the (nearly) empty directory used as the container's root.
	Root string
	// Work, Output and Cache are the run's host directories.
	Work, Output, Cache string
	// ReadOnly are host paths bound read-only at the same place (only
	// those that exist).
	ReadOnly []string
	// PrivateNetwork cuts the container off the network (pure addons).
	PrivateNetwork bool
	// NoRegister adds --register=no --keep-unit (no system bus or machined).
	NoRegister bool
	// Settings makes nspawn read ROOT/../MACHINE.nspawn (operator
	// variables, kept out of the command line).
	Settings bool
	// Rlimits (bytes of address space, processes) stand in for cgroup
	// limits where berth may not create cgroups; 0 means none.
	RlimitAS, RlimitNproc int64
	// Env holds the contract variables, passed with --setenv.
	Env []string
	// Program and Args run inside the container.
	Program string
	Args    []string
}

// CommandLine is the pure function from configuration and invocation to
// the command berth runs: Docspell's nspawn invocation (sudo optional,
// --private-users=identity --ephemeral --as-pid2 --console=pipe,
// read-only /bin, /usr/bin, /nix/store, the run's directories at
// /mnt/...), plus the flags this host needs.
func CommandLine(cfg Config, inv Invocation) (bin string, args []string) {
	bin = cfg.Binary
	if cfg.Sudo != "" {
		bin = cfg.Sudo
		args = append(args, cfg.Binary)
	}
	args = append(args,
		"--private-users=identity",
		"--notify-ready=yes",
		"--ephemeral",
		"--as-pid2",
		"--console=pipe",
		"--no-pager",
	)
	for _, p := range inv.ReadOnly {
		args = append(args, "--bind-ro="+p)
	}
	view := runner.ContainerPaths
	args = append(args,
		"--directory="+inv.Root,
		"--machine="+inv.Machine,
		"--bind="+inv.Work+":"+view.Work,
		"--bind="+inv.Cache+":"+view.Cache,
		"--bind="+inv.Output+":"+view.Output,
		"--chdir="+view.Work,
	)
	if inv.PrivateNetwork {
		args = append(args, "--private-network")
	}
	if inv.NoRegister {
		args = append(args, "--register=no", "--keep-unit")
	}
	if inv.Settings {
		args = append(args, "--settings=trusted")
	}
	if inv.RlimitAS > 0 {
		args = append(args, "--rlimit=RLIMIT_AS="+strconv.FormatInt(inv.RlimitAS, 10))
	}
	if inv.RlimitNproc > 0 {
		args = append(args, "--rlimit=RLIMIT_NPROC="+strconv.FormatInt(inv.RlimitNproc, 10))
	}
	args = append(args, cfg.ExtraArgs...)
	for _, e := range inv.Env {
		args = append(args, "--setenv="+e)
	}
	args = append(args, "--", inv.Program)
	return bin, append(args, inv.Args...)
}
