//go:build linux

package builtin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
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
	// InitPath is the binary that becomes the sandbox's init: a
	// berth-sandbox-init, or a berth whose main calls Init. Empty means
	// the one DefaultInitPath finds (and this very binary should that
	// one not work).
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
	// initPath is the init in use: cfg.InitPath, or what DefaultInitPath
	// found, or SelfInit when that did not work.
	initPath string
	warnOnce sync.Once
	// cgroupV1 is whether runs' cgroups are v1 (then each run makes its
	// own while the init starts), found out once.
	cgroupV1     bool
	cgroupV1Once sync.Once
}

// SelfInit names this very binary as the sandbox's init; its main must
// call Init first thing when IsInit.
const SelfInit = "/proc/self/exe"

// InitName is the file name of the dedicated init binary
// (cmd/berth-sandbox-init) that DefaultInitPath looks for next to berth.
const InitName = "berth-sandbox-init"

// DefaultInitPath is the berth-sandbox-init installed next to this
// binary (same directory, symlinks resolved), else SelfInit. The
// dedicated init starts in about a millisecond; berth's own binary, with
// the daemon's packages, takes several.
func DefaultInitPath() string {
	p, _ := defaultInit()
	return p
}

// defaultInit is DefaultInitPath, with the reason an init that is there
// is not used.
func defaultInit() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return SelfInit, nil
	}
	return findInitNextTo(exe)
}

// findInitNextTo is the executable berth-sandbox-init in exe's directory
// (symlinks resolved), else SelfInit, with the reason an init that is
// there is not used (nil when there is none at all, or it is used).
func findInitNextTo(exe string) (string, error) {
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	p := filepath.Join(filepath.Dir(exe), InitName)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return SelfInit, nil
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 || real == exe {
		return SelfInit, nil
	}
	if err := trustInit(real); err != nil {
		return SelfInit, err
	}
	return real, nil
}

// trustInit refuses an init binary (symlinks resolved) that someone
// other than root or berth's user could change: berth runs it on every
// sandboxed run as its own user, and, until it pivots, with the host's
// files at hand. An installed berth-sandbox-init (root's, 0755, in
// /usr/bin or /usr/lib/berth) or one `go install` put beside berth (the
// user's, 0755) passes.
func trustInit(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fix := fmt.Sprintf("fix: chmod go-w %s and chown it to root or berth's user, or remove it", path)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, neither root nor berth's user; %s", ErrInitUntrusted, path, st.Uid, fix)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by its group or others (mode %v); %s", ErrInitUntrusted, path, fi.Mode().Perm(), fix)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	// Anyone may put another file there in its place (unless the sticky
	// bit keeps them from replacing files they do not own).
	if di.Mode().Perm()&0o002 != 0 && di.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%w: %s is in %s, which anyone may write; fix: chmod o-w %s, or install the init elsewhere", ErrInitUntrusted, path, dir, dir)
	}
	return nil
}

// New returns a builtin sandbox.
func New(cfg Config) *Sandbox {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sandbox{cfg: cfg, initPath: cfg.InitPath}
	if s.initPath == "" {
		var why error
		if s.initPath, why = defaultInit(); why != nil {
			cfg.Logger.Warn("not using the sandbox init next to berth; berth is its own sandbox init", "sandbox", Name, "err", why)
		}
	}
	return s
}

// InitPath is the binary the sandbox starts as each run's init (known
// for sure once Available has answered).
func (s *Sandbox) InitPath() string {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	return s.initPath
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
var ErrNoInit = errors.New("the binary does not run the sandbox init")

// ErrInitUntrusted is wrapped by Available when the configured init
// binary could be changed by someone other than berth's user or root
// (writable by its group or others, in a directory anyone may write, or
// owned by another user): berth would run their code on every run.
var ErrInitUntrusted = errors.New("the sandbox init could be changed by others")

// ErrInitVersion is wrapped by Available when the init binary is from
// another build of berth (its configuration has another version).
var ErrInitVersion = errors.New("the sandbox init is from another build of berth")

// Available implements runner.Sandbox. It starts an empty sandbox once
// (a few milliseconds) and remembers the answer. When the init
// DefaultInitPath found does not work (say, one left from an older
// install), berth warns and becomes the init itself.
func (s *Sandbox) Available(ctx context.Context) error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if s.probed {
		return s.probeErr
	}
	err := CheckInit(s.initPath)
	if err == nil {
		err = s.probeCached(ctx, s.initPath)
	}
	if s.cfg.InitPath == "" && s.initPath != SelfInit && (errors.Is(err, ErrNoInit) || errors.Is(err, ErrInitVersion) || errors.Is(err, ErrInitUntrusted)) {
		s.cfg.Logger.Warn("the sandbox init next to berth does not work; berth is its own sandbox init", "sandbox", Name, "init", s.initPath, "err", err)
		s.initPath = SelfInit
		err = s.probeCached(ctx, s.initPath)
	}
	if ctx.Err() != nil {
		return err // do not remember a cancelled probe
	}
	s.probed, s.probeErr = true, err
	return err
}

// CheckInit says whether berth may start path as the sandbox's init
// (or the nspawn sandbox's cgroup helper) without trying it: an
// absolute path (the init starts in "/") to a file only root or berth's
// user can change (ErrInitUntrusted), that exists (ErrNoInit).
// SelfInit passes.
func CheckInit(path string) error {
	if path == SelfInit {
		return nil
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%w: the sandbox init %q must be an absolute path (builtin.init)", ErrNoInit, path)
	}
	err := trustInit(path)
	if err != nil && !errors.Is(err, ErrInitUntrusted) {
		return fmt.Errorf("%w: the sandbox init %s: %v; install berth-sandbox-init there or fix builtin.init", ErrNoInit, path, err)
	}
	return err
}

// probeCached probes with the init binary initPath unless the probe
// cache remembers a success for it.
func (s *Sandbox) probeCached(ctx context.Context, initPath string) error {
	key, keyed := probeKey(initPath)
	if keyed && cachedProbeOK(s.cfg.ProbeCache, key) {
		return nil
	}
	err := s.probe(ctx, initPath)
	if err == nil && keyed {
		rememberProbe(s.cfg.ProbeCache, key)
	}
	return err
}

func (s *Sandbox) probe(ctx context.Context, initPath string) error {
	if why := userNamespaceBlocker(); why != "" {
		return fmt.Errorf("%w: %s", ErrUserNamespaces, why)
	}
	c := nsinit.Config{Version: nsinit.Version, Probe: true, Hostname: "berth"}
	r, err := configPipe(c)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := proc.Run(ctx, proc.Spec{
		Path:        initPath,
		Args:        []string{nsinit.Arg},
		Dir:         "/",
		SysProcAttr: sysProcAttr(true),
		ExtraFiles:  []*os.File{r},
		KillGrace:   time.Second,
	})
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("%w: creating the namespaces failed (%v); %s; inside a container, its seccomp profile or missing privileges may forbid them (docker: --security-opt seccomp=unconfined)", ErrUserNamespaces, err, userNamespaceFix)
		}
		if errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("%w: %s cannot be started (%v); it must be a berth-sandbox-init from the same build as berth, or a binary whose main calls builtin.Init() first thing when builtin.IsInit()", ErrNoInit, initPath, err)
		}
		return fmt.Errorf("starting the sandbox init %s: %w", initPath, err)
	}
	if strings.TrimSpace(string(res.Stdout)) != "ok" {
		switch res.ExitCode {
		case nsinit.ExitSetup:
			return fmt.Errorf("the sandbox cannot be set up here: %s", strings.Join(res.StderrTail, "; "))
		case nsinit.ExitVersion:
			return fmt.Errorf("%w: %s: %s; fix: install the berth-sandbox-init built with this berth (make build, or go install ./cmd/...), or set builtin.init to it", ErrInitVersion, initPath, strings.Join(res.StderrTail, "; "))
		}
		return fmt.Errorf("%w: %s must be a berth-sandbox-init, or a binary whose main calls builtin.Init() first thing when builtin.IsInit() (exit %d)", ErrNoInit, initPath, res.ExitCode)
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
	// Files in a tmpfs are memory: bounded by the limit even where no
	// memory cgroup charges them (the rlimit fallback).
	c.TmpfsBytes = s.cfg.Limits.MemoryBytes
	attr := sysProcAttr(isolateNet)
	// The run's cgroup: on v2 the init is cloned straight into it, so it
	// must exist first; on v1 berth moves the init in after the clone, so
	// it is made meanwhile.
	cg := &runGroup{done: make(chan struct{})}
	var files []*os.File
	switch {
	case s.cfg.Limits.Zero():
		close(cg.done)
	case s.usesCgroupV1():
		go s.makeGroup(cg, inv.RunID)
	default:
		s.makeGroup(cg, inv.RunID)
		if cg.err != nil {
			return runner.Wrapped{}, cg.err
		}
		if g := cg.group; g != nil && g.Version == 2 {
			fd, err := os.Open(g.Dir())
			if err != nil {
				g.Remove()
				return runner.Wrapped{}, err
			}
			files = append(files, fd)
			attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
		}
	}
	r, cw, err := os.Pipe()
	if err != nil {
		closeAll(files)
		cg.remove(s.cfg.Logger, inv.RunID)
		return runner.Wrapped{}, err
	}
	// The init reads its configuration on fd 3 and sets the sandbox up,
	// then waits for the go-ahead before it starts the program. On cgroup
	// v1 berth moves it into the run's groups in between: the move waits
	// for a kernel RCU grace period (milliseconds), which then overlaps
	// with the init's start-up and set-up instead of adding to them.
	// Every process of the program is counted, since it starts after.
	onStart := func(pid int) error {
		defer cw.Close()
		<-cg.done
		if cg.err != nil {
			return cg.err
		}
		if cg.group == nil && !s.cfg.Limits.Zero() {
			c.Rlimits = rlimitsFor(s.cfg.Limits)
		}
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := cw.Write(append(data, '\n')); err != nil {
			return err
		}
		if g := cg.group; g != nil && !attr.UseCgroupFD {
			if err := g.Join(pid); err != nil {
				return fmt.Errorf("moving the sandbox into its cgroup: %w", err)
			}
		}
		_, err = cw.Write([]byte{nsinit.GoByte})
		return err
	}
	w := spec
	w.Env = userEnv(spec.Env)
	w.Path = s.InitPath()
	w.Args = []string{nsinit.Arg}
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
			<-cg.done
			oom = cg.group.OOMKilled()
			cg.remove(s.cfg.Logger, inv.RunID)
		})
		return oom
	}
	limits := func() *runner.Enforcement {
		<-cg.done
		return Enforcement(s.cfg.Limits, cg.group, cg.unavailable)
	}
	return runner.Wrapped{Spec: w, Isolated: true, Finish: finish, Limits: limits}, nil
}

// usesCgroupV1 reports whether runs' cgroups are (or would be) v1.
func (s *Sandbox) usesCgroupV1() bool {
	s.cgroupV1Once.Do(func() { s.cgroupV1 = !cgroups.UsesV2(s.cfg.Limits) })
	return s.cgroupV1
}

// runGroup is a run's cgroup, possibly still being made: group and err
// are set when done is closed (group nil: no cgroup, the limits are
// rlimits).
type runGroup struct {
	done  chan struct{}
	group *cgroups.Group
	err   error
	// unavailable is why there is no cgroup (the limits are rlimits).
	unavailable error
}

// makeGroup creates the run's cgroup into cg and closes cg.done.
func (s *Sandbox) makeGroup(cg *runGroup, runID string) {
	defer close(cg.done)
	g, err := cgroups.New(cgroupName(runID), s.cfg.Limits)
	switch {
	case errors.Is(err, cgroups.ErrUnavailable):
		cg.unavailable = err
		s.warnOnce.Do(func() {
			s.cfg.Logger.Warn("cgroups unavailable, limiting the sandbox with rlimits (memory: RLIMIT_DATA, no CPU limit, no OOM reporting)", "sandbox", Name, "err", err)
		})
	case err != nil:
		cg.err = fmt.Errorf("creating the run's cgroup: %w", err)
	default:
		cg.group = g
	}
}

// remove removes the run's cgroup once it is made.
func (cg *runGroup) remove(log *slog.Logger, runID string) {
	<-cg.done
	if err := cg.group.Remove(); err != nil {
		log.Warn("removing the run's cgroup", "sandbox", Name, "run", runID, "err", err)
	}
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// configPipe returns the read end of a pipe already holding c.
func configPipe(c nsinit.Config) (*os.File, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A pipe holds 64 KiB; the configuration is a few hundred bytes.
	_, err = w.Write(append(append(data, '\n'), nsinit.GoByte))
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

func rlimitsFor(l Limits) []nsinit.Rlimit {
	var out []nsinit.Rlimit
	if l.MemoryBytes > 0 {
		// RLIMIT_DATA counts what a program allocates (private writable
		// memory); RLIMIT_AS would count the address space that runtimes
		// reserve, and an ordinary Go program fails at 512 MiB of it.
		out = append(out, nsinit.Rlimit{Resource: unix.RLIMIT_DATA, Value: uint64(l.MemoryBytes)})
	}
	if l.Pids > 0 {
		// RLIMIT_NPROC counts per user in the namespace, which holds only
		// the sandbox.
		out = append(out, nsinit.Rlimit{Resource: unix.RLIMIT_NPROC, Value: uint64(l.Pids)})
	}
	return out
}

// defaultReadOnly are the host paths an addon needs to find its
// interpreter and libraries: the usual library paths, /opt (vendor
// runtimes) and the nix store.
var defaultReadOnly = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/nix/store"}

// etcDeny are the /etc entries never shown, beside every entry that is
// not readable by others (shadow, ssh host keys, ssl/private, sudoers,
// NetworkManager's connections, a database's root password are all
// protected so): the addon is root inside and berth's user outside and
// could read them. The rest of /etc is shown read-only, as a runtime
// expects it (Debian's JDK links its java.security into
// /etc/java-17-openjdk; fonts, CA certificates, alternatives).
// passwd and group are berth's own, hosts too for a pure run.
var etcDeny = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/passwd-", "/etc/group-", "/etc/subuid", "/etc/subgid", "/etc/hostname", "/etc/machine-id",
	"/etc/ssh", "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d", "/etc/security/opasswd",
	"/etc/krb5.keytab", "/etc/ipsec.secrets", "/etc/ppp", "/etc/wireguard", "/etc/letsencrypt",
	"/etc/NetworkManager/system-connections", "/etc/credstore", "/etc/credstore.encrypted",
	"/etc/mysql/debian.cnf",
	// berth's own configuration (it may hold the daemon's tokens) and the
	// engines' and nix's, which may hold registry or access tokens.
	"/etc/berth", "/etc/docker", "/etc/containers", "/etc/nix",
}

// planEtc shows the host's /etc (at etc) read-only as one bind, then
// covers what must stay hidden: each etcDeny entry and each entry others
// may not read, a file with an empty file, a directory with an empty
// directory (a handful of mounts, not one per entry of /etc). berth's own
// passwd and group (and for a pure run, hosts) cover the host's.
func planEtc(c *nsinit.Config, etc string, isolateNet bool) error {
	real, err := filepath.EvalSymlinks(etc)
	if err != nil {
		return nil // no /etc on this host: nothing to show
	}
	st, err := stockFiles()
	if err != nil {
		return err
	}
	c.Binds = append(c.Binds, nsinit.Bind{Src: real, Dst: "/etc", Dir: true})
	for _, h := range hiddenEtc(real) {
		dst := "/etc" + strings.TrimPrefix(h.path, real)
		if h.dir {
			c.Binds = append(c.Binds, nsinit.Bind{Src: filepath.Join(st, "empty.d"), Dst: dst, Dir: true})
		} else {
			c.Binds = append(c.Binds, nsinit.Bind{Src: filepath.Join(st, "empty"), Dst: dst})
		}
	}
	own := []string{"passwd", "group"}
	if isolateNet {
		own = append(own, "hosts")
	}
	for _, name := range own {
		if fi, err := os.Lstat(filepath.Join(real, name)); err == nil && fi.Mode().IsRegular() {
			c.Binds = append(c.Binds, nsinit.Bind{Src: filepath.Join(st, name), Dst: "/etc/" + name})
		} else {
			// Missing, or a symlink a mount cannot cover: nothing of the
			// host's to hide; the view has none.
			continue
		}
	}
	return nil
}

// hidden is an /etc entry planEtc covers.
type hidden struct {
	path string
	dir  bool
}

// etcWalk caches hiddenEtc: walking /etc costs milliseconds per run, and
// what it protects changes rarely.
var etcWalk struct {
	sync.Mutex
	root string
	at   time.Time
	list []hidden
}

// etcWalkFor is how long a walk of /etc is reused.
const etcWalkFor = 10 * time.Second

// hiddenEtc lists the entries below root (the host's /etc, symlinks
// resolved) that planEtc covers: etcDeny, and what others may not read
// (shadow, ssh host keys, ssl/private, sudoers, NetworkManager's
// connections are protected so). A hidden directory is not entered.
// Symlinks are left alone: a mount cannot cover one, and its target is
// only there if it is shown anyway.
func hiddenEtc(root string) []hidden {
	etcWalk.Lock()
	defer etcWalk.Unlock()
	if etcWalk.root == root && time.Since(etcWalk.at) < etcWalkFor {
		return etcWalk.list
	}
	var list []hidden
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p == root {
			return nil
		}
		if err != nil {
			// Unreadable: cover it.
			list = append(list, hidden{p, d != nil && d.IsDir()})
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		inside := "/etc" + strings.TrimPrefix(p, root)
		fi, err := d.Info()
		need := fs.FileMode(0o004)
		if d.IsDir() {
			need = 0o005
		}
		if slices.Contains(etcDeny, inside) || err != nil || fi.Mode().Perm()&need != need {
			list = append(list, hidden{p, d.IsDir()})
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	etcWalk.root, etcWalk.at, etcWalk.list = root, time.Now(), list
	return list
}

// stock is a directory berth makes once per process with what planEtc
// binds over the host's files: an empty file, an empty directory and
// berth's own passwd, group and hosts. Only berth's user can change it.
var stock struct {
	sync.Mutex
	dir string
}

var stockContent = map[string]string{
	"empty":  "",
	"passwd": "root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	"group":  "root:x:0:\nnogroup:x:65534:\n",
	"hosts":  "127.0.0.1\tlocalhost berth\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}

func stockFiles() (string, error) {
	stock.Lock()
	defer stock.Unlock()
	if stock.dir != "" {
		if _, err := os.Stat(filepath.Join(stock.dir, "empty.d")); err == nil {
			return stock.dir, nil
		}
	}
	dir, err := os.MkdirTemp("", "berth-sandbox-etc-")
	if err != nil {
		return "", fmt.Errorf("making the sandbox's own /etc files: %w", err)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "empty.d"), 0o555); err != nil {
		return "", err
	}
	for name, content := range stockContent {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o444); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		return "", err
	}
	stock.dir = dir
	return dir, nil
}

// userEnv gives the program a writable HOME (the run's own /tmp, a tmpfs)
// and the user it is inside, unless the spec sets them.
func userEnv(env []string) []string {
	out := slices.Clone(env)
	for _, kv := range []string{"HOME=/tmp", "USER=root", "LOGNAME=root"} {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
			out = append(out, kv)
		}
	}
	return out
}

// plan turns the contract's spec and the run's host directories into
// what the init does. It reads the host's file system (what exists,
// where symlinks lead) but changes nothing.
func plan(spec proc.Spec, inv runner.Invocation, isolateNet bool, extraRO []string) (nsinit.Config, error) {
	view := runner.ContainerPaths
	c := nsinit.Config{
		Version:      nsinit.Version,
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
			c.Symlinks = append(c.Symlinks, nsinit.Symlink{Path: p, Target: target})
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
		c.Binds = append(c.Binds, nsinit.Bind{Src: real, Dst: p, Dir: rfi.IsDir()})
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
	if err := planEtc(&c, "/etc", isolateNet); err != nil {
		return c, err
	}
	if !isolateNet {
		// Working DNS for an impure run: the host's resolv.conf is in the
		// view; where it is a symlink (often into /run), its target is
		// bound at its own path so that the link resolves.
		if real, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && !strings.HasPrefix(real, "/etc/") {
			if err := addRO(real, false); err != nil {
				return c, err
			}
		}
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
		c.Binds = append(c.Binds, nsinit.Bind{Src: real, Dst: d.inside, RW: true, Dir: true})
	}
	return c, nil
}

// IsInit reports whether this process was started as a sandbox's init
// (or as one of its helpers). A binary that may serve as its own
// sandbox init (berth when no berth-sandbox-init is installed next to
// it, test binaries) checks it first thing in main:
//
//	if builtin.IsInit() { builtin.Init() }
func IsInit() bool { return nsinit.IsInit() }

// Init runs the sandbox's init and exits the process with the program's
// exit status; it never returns.
func Init() { nsinit.Main() }
