//go:build linux

package builtin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

// Name is the sandbox kind.
const Name = "builtin"

// Limits are the resource limits of one run; a zero field means none.
type Limits = cgroups.Limits

// DefaultLimits are generous for a document-processing addon and small
// enough that a runaway one cannot take the machine down.
func DefaultLimits() Limits {
	return Limits{MemoryBytes: 2 << 30, Pids: 1024}
}

// Config configures the builtin sandbox.
type Config struct {
	Limits Limits
	// ReadOnly lists further host paths bound read-only at the same place
	// (the defaults are /usr, /bin, /sbin, /lib*, /nix/store and a few
	// files of /etc).
	ReadOnly []string
	// InitPath is the berth binary that becomes the sandbox's init; empty
	// means this very binary (/proc/self/exe), which must call Init.
	InitPath string
	// Logger receives notes such as "cgroups unavailable, using rlimits".
	Logger *slog.Logger
	// ProbeCache, when set, is a file that remembers a successful probe
	// (keyed by boot, user, init binary and the kernel's user-namespace
	// settings), so that each short-lived berth process does not start an
	// empty sandbox before its first run.
	ProbeCache string
}

// Sandbox is berth's own sandbox: user, mount, pid, ipc, uts and (for
// addons without networking) network namespaces set up by a re-exec of
// the berth binary as init, cgroup limits, no capabilities,
// no_new_privs and a seccomp filter.
type Sandbox struct {
	cfg Config

	probeMu  sync.Mutex
	probed   bool
	probeErr error
	warnOnce sync.Once
}

// New returns a builtin sandbox.
func New(cfg Config) *Sandbox {
	if cfg.InitPath == "" {
		cfg.InitPath = "/proc/self/exe"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sandbox{cfg: cfg}
}

// Name implements runner.Sandbox.
func (s *Sandbox) Name() string { return Name }

// View implements runner.Sandbox: the run's directories are at /mnt/...
// as under docker and nspawn.
func (s *Sandbox) View(runner.Invocation) runner.Paths { return runner.ContainerPaths }

// ErrUserNamespaces is wrapped by Available when the kernel does not let
// berth create user namespaces.
var ErrUserNamespaces = errors.New("user namespaces are not available")

// ErrNoInit is wrapped by Available when the binary does not start the
// sandbox's init (its main does not call builtin.Init).
var ErrNoInit = errors.New("the berth binary does not run the sandbox init")

// Available implements runner.Sandbox. It starts an empty sandbox once
// (a few milliseconds) and remembers the answer.
func (s *Sandbox) Available(ctx context.Context) error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if s.probed {
		return s.probeErr
	}
	key, keyed := probeKey(s.cfg.InitPath)
	if keyed && cachedProbeOK(s.cfg.ProbeCache, key) {
		s.probed = true
		return nil
	}
	err := s.probe(ctx)
	if ctx.Err() != nil {
		return err // do not remember a cancelled probe
	}
	s.probed, s.probeErr = true, err
	if err == nil && keyed {
		rememberProbe(s.cfg.ProbeCache, key)
	}
	return err
}

func (s *Sandbox) probe(ctx context.Context) error {
	if why := userNamespaceBlocker(); why != "" {
		return fmt.Errorf("%w: %s", ErrUserNamespaces, why)
	}
	c := initConfig{Probe: true, Hostname: "berth"}
	r, err := configPipe(c)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := proc.Run(ctx, proc.Spec{
		Path:        s.cfg.InitPath,
		Args:        []string{initArg},
		Dir:         "/",
		SysProcAttr: sysProcAttr(true),
		ExtraFiles:  []*os.File{r},
		KillGrace:   time.Second,
	})
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("%w: creating the namespaces failed (%v); %s; inside a container, its seccomp profile or missing privileges may forbid them (docker: --security-opt seccomp=unconfined)", ErrUserNamespaces, err, userNamespaceFix)
		}
		return fmt.Errorf("starting the sandbox init: %w", err)
	}
	if strings.TrimSpace(string(res.Stdout)) != "ok" {
		if res.ExitCode == exitSetup {
			return fmt.Errorf("the sandbox cannot be set up here: %s", strings.Join(res.StderrTail, "; "))
		}
		return fmt.Errorf("%w: %s must call builtin.Init() first thing in main when builtin.IsInit() (exit %d)", ErrNoInit, s.cfg.InitPath, res.ExitCode)
	}
	return nil
}

const userNamespaceFix = "allow unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1, user.max_user_namespaces=15000, and on Ubuntu 24.04 kernel.apparmor_restrict_unprivileged_userns=0), or use sandbox: nspawn"

// userNamespaceBlocker reads the knobs that forbid user namespaces.
func userNamespaceBlocker() string {
	return namespaceBlocker(func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}, os.Geteuid())
}

// namespaceBlocker explains which of the kernel's knobs (read returns a
// /proc/sys file's content, "" when missing) keeps user euid from
// creating user namespaces, with the fix; "" when none does.
func namespaceBlocker(read func(string) string, euid int) string {
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		return "user.max_user_namespaces is 0; fix: sysctl -w user.max_user_namespaces=15000"
	}
	if euid != 0 {
		if read("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
			return "kernel.unprivileged_userns_clone is 0; fix: sysctl -w kernel.unprivileged_userns_clone=1 (or run berth as root, or use sandbox: nspawn)"
		}
		if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
			return "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04); fix: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for berth allowing userns"
		}
	}
	return ""
}

func sysProcAttr(isolateNet bool) *syscall.SysProcAttr {
	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS)
	if isolateNet {
		flags |= syscall.CLONE_NEWNET
	}
	return &syscall.SysProcAttr{
		Cloneflags: flags,
		// The program is root inside, mapped to berth's own user outside,
		// and has no capabilities once the init is done.
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
}

// Wrap implements runner.Sandbox.
func (s *Sandbox) Wrap(ctx context.Context, spec proc.Spec, inv runner.Invocation) (runner.Wrapped, error) {
	isolateNet := inv.Addon == nil || !inv.Addon.Options.Networking
	c, err := plan(spec, inv, isolateNet, s.cfg.ReadOnly)
	if err != nil {
		return runner.Wrapped{}, err
	}
	var (
		group *cgroups.Group
		files []*os.File
	)
	// Files in a tmpfs are memory: bounded by the limit even where no
	// memory cgroup charges them (the rlimit fallback).
	c.TmpfsBytes = s.cfg.Limits.MemoryBytes
	attr := sysProcAttr(isolateNet)
	if !s.cfg.Limits.Zero() {
		group, err = cgroups.New(cgroupName(inv.RunID), s.cfg.Limits)
		switch {
		case errors.Is(err, cgroups.ErrUnavailable):
			s.warnOnce.Do(func() {
				s.cfg.Logger.Warn("cgroups unavailable, limiting the sandbox with rlimits (no OOM reporting)", "sandbox", Name, "err", err)
			})
			c.Rlimits = rlimitsFor(s.cfg.Limits)
		case err != nil:
			return runner.Wrapped{}, fmt.Errorf("creating the run's cgroup: %w", err)
		case group.Version == 2:
			fd, err := os.Open(group.Dir())
			if err != nil {
				group.Remove()
				return runner.Wrapped{}, err
			}
			files = append(files, fd)
			attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
		}
	}
	r, cw, err := os.Pipe()
	if err != nil {
		closeAll(files)
		group.Remove()
		return runner.Wrapped{}, err
	}
	data, err := json.Marshal(c)
	if err != nil {
		r.Close()
		cw.Close()
		closeAll(files)
		group.Remove()
		return runner.Wrapped{}, err
	}
	// The init waits for its configuration on fd 3. On cgroup v1 berth
	// first moves it into the run's groups: the move waits for a kernel
	// RCU grace period (milliseconds), which then overlaps with the
	// init's own start-up instead of adding to it. Every process the
	// program starts is counted, since the init runs nothing before.
	onStart := func(pid int) error {
		defer cw.Close()
		if group != nil && group.Version == 1 {
			if err := group.Join(pid); err != nil {
				return fmt.Errorf("moving the sandbox into its cgroup: %w", err)
			}
		}
		_, err := cw.Write(data)
		return err
	}
	w := spec
	w.Path = s.cfg.InitPath
	w.Args = []string{initArg}
	w.Dir = "/"
	w.SysProcAttr = attr
	w.ExtraFiles = []*os.File{r}
	w.OnStart = onStart
	var once sync.Once
	finish := func(proc.Result) (oom bool) {
		once.Do(func() {
			cw.Close()
			closeAll(w.ExtraFiles)
			closeAll(files)
			oom = group.OOMKilled()
			if err := group.Remove(); err != nil {
				s.cfg.Logger.Warn("removing the run's cgroup", "sandbox", Name, "run", inv.RunID, "err", err)
			}
		})
		return oom
	}
	return runner.Wrapped{Spec: w, Isolated: true, Finish: finish}, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// configPipe returns the read end of a pipe already holding c.
func configPipe(c initConfig) (*os.File, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A pipe holds 64 KiB; the configuration is a few hundred bytes.
	_, err = w.Write(data)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func cgroupName(runID string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, runID)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return "run-" + clean + "-" + hex.EncodeToString(b[:])
}

func rlimitsFor(l Limits) []rlimit {
	var out []rlimit
	if l.MemoryBytes > 0 {
		out = append(out, rlimit{Resource: unix.RLIMIT_AS, Value: uint64(l.MemoryBytes)})
	}
	if l.Pids > 0 {
		// RLIMIT_NPROC counts per user in the namespace, which holds only
		// the sandbox.
		out = append(out, rlimit{Resource: unix.RLIMIT_NPROC, Value: uint64(l.Pids)})
	}
	return out
}

// defaultReadOnly are the host paths an addon needs to find its
// interpreter and libraries.
var defaultReadOnly = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/nix/store"}

// etcReadOnly are /etc entries bound when present; /etc itself is a
// fresh directory with its own passwd, group and hosts.
var etcReadOnly = []string{
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/protocols",
	"/etc/services", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates",
	"/etc/os-release",
	// Not /etc/ssl as a whole: /etc/ssl/private holds the host's keys,
	// which the addon, root inside and berth's user outside, could read.
}

// plan turns the contract's spec and the run's host directories into
// what the init does. It reads the host's file system (what exists,
// where symlinks lead) but changes nothing.
func plan(spec proc.Spec, inv runner.Invocation, isolateNet bool, extraRO []string) (initConfig, error) {
	view := runner.ContainerPaths
	c := initConfig{
		Program:      spec.Path,
		Args:         spec.Args,
		Dir:          spec.Dir,
		LoopbackOnly: isolateNet,
		Hostname:     "berth",
	}
	seen := map[string]bool{}
	addRO := func(p string, keepLink bool) error {
		p = filepath.Clean(p)
		if seen[p] {
			return nil
		}
		seen[p] = true
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 && keepLink {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.Symlinks = append(c.Symlinks, symlink{Path: p, Target: target})
			return nil
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // a dangling link: nothing to bind
		}
		rfi, err := os.Stat(real)
		if err != nil {
			return nil
		}
		c.Binds = append(c.Binds, bind{Src: real, Dst: p, Dir: rfi.IsDir()})
		return nil
	}
	for _, p := range defaultReadOnly {
		if err := addRO(p, true); err != nil {
			return c, err
		}
	}
	for _, p := range extraRO {
		if err := addRO(p, false); err != nil {
			return c, err
		}
	}
	etc := etcReadOnly
	if !isolateNet {
		etc = append(slicesClone(etc), "/etc/resolv.conf", "/etc/hosts")
	}
	for _, p := range etc {
		if err := addRO(p, false); err != nil {
			return c, err
		}
	}
	c.Files = []file{
		{Path: "/etc/passwd", Content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		{Path: "/etc/group", Content: "root:x:0:\nnogroup:x:65534:\n"},
	}
	if isolateNet {
		c.Files = append(c.Files, file{Path: "/etc/hosts", Content: "127.0.0.1\tlocalhost berth\n::1\tlocalhost ip6-localhost ip6-loopback\n"})
	}
	for _, d := range []struct{ host, inside string }{
		{inv.WorkDir, view.Work}, {inv.OutputDir, view.Output}, {inv.CacheDir, view.Cache},
	} {
		if d.host == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(d.host)
		if err != nil {
			return c, fmt.Errorf("run directory %s: %w", d.host, err)
		}
		c.Binds = append(c.Binds, bind{Src: real, Dst: d.inside, RW: true, Dir: true})
	}
	return c, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
