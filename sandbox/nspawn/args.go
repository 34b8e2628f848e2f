package nspawn

import (
	"path/filepath"
	"strconv"
	"strings"

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
	// Masked are /proc files hidden inside (/dev/null bound over them):
	// MaskedProc, those the host has.
	Masked []string
	// PrivateNetwork cuts the container off the network (pure addons).
	PrivateNetwork bool
	// NoRegister adds --register=no --keep-unit (no system bus or machined).
	NoRegister bool
	// Rlimits (bytes of private writable memory, processes) stand in for
	// cgroup limits where berth may not create cgroups; 0 means none.
	RlimitData, RlimitNproc int64
	// Properties are set on the scope nspawn registers the container in
	// (--property=, systemd as PID 1, no cgroup of berth's to run in):
	// MemoryMax=, TasksMax=, CPUQuota=.
	Properties []string
	// Env holds the variables passed with --setenv: KEY=VALUE, or KEY
	// alone for nspawn to pass the value of its own environment (the
	// operator's variables, which may be secrets: never in argv).
	Env []string
	// Program and Args run inside the container.
	Program string
	Args    []string
}

// MaskedProc are the /proc files nspawn leaves readable that the
// builtin sandbox (and docker) mask: with --private-users=identity the
// container's root is the host's uid 0, and /proc/keys lists the host
// root's keyrings to it.
var MaskedProc = []string{
	"/proc/keys", "/proc/key-users", "/proc/kcore", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/latency_stats", "/proc/kallsyms",
}

// CommandLine is the pure function from configuration and invocation to
// the command berth runs: Docspell's nspawn invocation (sudo optional,
// --private-users=identity --ephemeral --as-pid2 --console=pipe,
// read-only /bin, /usr/bin, /nix/store, the run's directories at
// /mnt/...), plus the flags this host needs, the masks of MaskedProc and
// no CAP_SYS_ADMIN and no tracing system calls.
func CommandLine(cfg Config, inv Invocation) (bin string, args []string) {
	bin = cfg.Binary
	if cfg.Sudo != "" {
		bin = cfg.Sudo
		// sudo resets the environment: the variables nspawn is to take
		// from its own (--setenv=NAME, the operator's, which may be
		// secrets) must be named to it, and the sudoers rule must allow
		// it (SETENV). Names only: the values stay out of argv.
		if names := namesOnly(inv.Env); len(names) > 0 && filepath.Base(cfg.Sudo) == "sudo" {
			args = append(args, "--preserve-env="+strings.Join(names, ","))
		}
		args = append(args, cfg.Binary)
	}
	args = append(args,
		"--private-users=identity",
		"--notify-ready=yes",
		"--ephemeral",
		"--as-pid2",
		"--console=pipe",
		"--no-pager",
		// Without it the container's root could unmount the masks below,
		// or mount a /proc of its own; no addon needs it.
		"--drop-capability=CAP_SYS_ADMIN",
		// Tracing: the container's root could ptrace-stop the stub init
		// (pid 1) and hold the run until its timeout, or read another
		// process's memory; the builtin sandbox denies the same calls.
		"--system-call-filter=~ptrace process_vm_readv process_vm_writev",
	)
	for _, p := range inv.ReadOnly {
		args = append(args, "--bind-ro="+p)
	}
	for _, p := range inv.Masked {
		args = append(args, "--bind-ro=/dev/null:"+p)
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
	for _, p := range inv.Properties {
		args = append(args, "--property="+p)
	}
	if inv.RlimitData > 0 {
		args = append(args, "--rlimit=RLIMIT_DATA="+strconv.FormatInt(inv.RlimitData, 10))
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

// Properties are the scope unit properties that carry lim when nspawn
// registers the container with machined (then its payload runs in
// machine.slice, outside any cgroup berth made).
func Properties(lim Limits) []string {
	var p []string
	if lim.MemoryBytes > 0 {
		p = append(p, "MemoryMax="+strconv.FormatInt(lim.MemoryBytes, 10), "MemorySwapMax=0")
	}
	if lim.Pids > 0 {
		p = append(p, "TasksMax="+strconv.FormatInt(lim.Pids, 10))
	}
	if lim.CPUs > 0 {
		// systemd's CPUQuota is a percentage of one CPU.
		p = append(p, "CPUQuota="+strconv.FormatFloat(lim.CPUs*100, 'f', -1, 64)+"%")
	}
	return p
}

// namesOnly lists the entries of env that are a bare name (a variable
// nspawn takes from its own environment).
func namesOnly(env []string) []string {
	var names []string
	for _, e := range env {
		if !strings.Contains(e, "=") {
			names = append(names, e)
		}
	}
	return names
}
