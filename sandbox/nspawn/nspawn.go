package nspawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/leftover"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

// Name is the sandbox kind.
const Name = "nspawn"

// Limits are the resource limits of one run; a zero field means none.
type Limits = cgroups.Limits

// Config is the nspawn sandbox's part of berth.yaml (under `nspawn:`).
type Config struct {
	// Binary is systemd-nspawn, a name on PATH or a path.
	Binary string `yaml:"binary" json:"binary"`
	// Sudo, when set (e.g. "sudo"), is put before the nspawn command, for
	// a berth that does not run as root (passwordless sudo for
	// systemd-nspawn needed, as with Docspell).
	Sudo string `yaml:"sudo" json:"sudo"`
	// ExtraArgs go before --setenv and the program, untouched.
	ExtraArgs []string `yaml:"extraArgs" json:"extraArgs"`
	// Wait is a pause after each run while machined unregisters the
	// container (Docspell's container-wait); used only when registering.
	Wait time.Duration `yaml:"wait" json:"wait"`
	// ReadOnly are the host paths bound read-only (those missing are
	// skipped). Docspell binds /bin, /usr/bin and /nix/store, which is
	// enough on NixOS; other distributions need their libraries too.
	ReadOnly []string `yaml:"readOnly" json:"readOnly"`

	// Limits are set from the sandbox's limits, not from nspawn's section.
	Limits Limits `yaml:"-" json:"-"`
	// InitPath is the berth binary used to join cgroup v1 groups before
	// nspawn starts; "" means this binary, which must call builtin.Init.
	InitPath string `yaml:"-" json:"-"`
	// Logger receives notes (e.g. cgroups unavailable).
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultConfig is what berth uses without configuration.
func DefaultConfig() Config {
	return Config{
		Binary: "systemd-nspawn",
		Wait:   100 * time.Millisecond,
		ReadOnly: []string{"/bin", "/usr/bin", "/nix/store",
			"/sbin", "/usr/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/share", "/etc/alternatives"},
	}
}

// Sandbox runs programs in a systemd-nspawn container, as Docspell does.
type Sandbox struct {
	cfg Config

	probeMu  sync.Mutex
	probed   bool
	probeErr error
	// envErr, found by the probe, fails runs with operator variables
	// when nspawn.sudo cannot pass them (ErrSudoDropsEnv).
	envErr   error
	warnOnce sync.Once
	// sweepOnce removes what dead berths left, before the first run.
	sweepOnce sync.Once
}

// New returns an nspawn sandbox; empty fields of cfg take their defaults.
func New(cfg Config) *Sandbox {
	def := DefaultConfig()
	if cfg.Binary == "" {
		cfg.Binary = def.Binary
	}
	if cfg.ReadOnly == nil {
		cfg.ReadOnly = def.ReadOnly
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sandbox{cfg: cfg}
}

// Name implements runner.Sandbox.
func (s *Sandbox) Name() string { return Name }

// View implements runner.Sandbox: the run's directories are at /mnt/...,
// and ADDON_DIR and TMPDIR are relative to WORK, as in Docspell.
func (s *Sandbox) View(runner.Invocation) runner.Paths {
	p := runner.ContainerPaths
	p.Relative = true
	return p
}

// Registering tells whether nspawn can register with machined: systemd
// is PID 1 and the system bus is there. Otherwise berth passes
// --register=no --keep-unit.
func Registering() bool {
	return exists("/run/systemd/system") && exists("/run/dbus/system_bus_socket")
}

// nspawnStateDir must be a tmpfs where nspawn runs outside systemd.
const nspawnStateDir = "/run/systemd/nspawn"

// TmpfsFix is the command that prepares nspawnStateDir.
const TmpfsFix = "mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn"

// Available implements runner.Sandbox: it checks the binaries, root or
// sudo, the tmpfs nspawn needs outside systemd, then starts one empty
// container (once; the answer is remembered).
func (s *Sandbox) Available(ctx context.Context) error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if s.probed {
		return s.probeErr
	}
	err := s.check(ctx)
	if ctx.Err() != nil {
		return err
	}
	s.probed, s.probeErr = true, err
	return err
}

func (s *Sandbox) check(ctx context.Context) error {
	if _, err := exec.LookPath(s.cfg.Binary); err != nil {
		return fmt.Errorf("%s not found (fix: apt-get install systemd-container, or set nspawn.binary): %w", s.cfg.Binary, err)
	}
	if s.cfg.Sudo != "" {
		if _, err := exec.LookPath(s.cfg.Sudo); err != nil {
			return fmt.Errorf("sudo binary %s not found (fix: apt-get install sudo, or unset nspawn.sudo): %w", s.cfg.Sudo, err)
		}
		if noNewPrivs() {
			return fmt.Errorf("berth runs with no_new_privs (systemd's NoNewPrivileges=yes, or a parent that set it), so %s, which is set-user-ID, cannot become root (fix: NoNewPrivileges=no in a drop-in of the unit, see docs/daemon.md, or use the builtin sandbox)", s.cfg.Sudo)
		}
	} else if os.Geteuid() != 0 {
		return errors.New("systemd-nspawn needs root: run berth as root, or set nspawn.sudo: sudo and allow passwordless sudo for systemd-nspawn")
	}
	if s.cfg.InitPath != "" && (!s.cfg.Limits.Zero() || ownPidNamespace() || s.cfg.Sudo != "") {
		// It joins the run's cgroups (v1) before nspawn starts, is the
		// init of nspawn's pid namespace as root, and sudo's keeper.
		if err := builtin.CheckInit(s.cfg.InitPath); err != nil {
			return fmt.Errorf("the cgroup helper: %w", err)
		}
	}
	if !Registering() && !onTmpfs(nspawnStateDir) {
		return fmt.Errorf("without systemd as PID 1, systemd-nspawn needs a tmpfs at %s (fix: %s)", nspawnStateDir, TmpfsFix)
	}
	// A real container, to catch what the checks above cannot.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	inv := runner.Invocation{RunID: "probe"}
	pd, err := leftover.Make("berth-nspawn-probe-")
	if err != nil {
		return err
	}
	defer pd.Remove()
	dir := pd.Path
	for _, d := range []string{"work", "output", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	inv.WorkDir, inv.OutputDir, inv.CacheDir = filepath.Join(dir, "work"), filepath.Join(dir, "output"), filepath.Join(dir, "cache")
	cfg := s.cfg
	cfg.Limits, cfg.Wait = Limits{}, 0
	// Through sudo, also an operator variable: sudo passes it only when
	// the sudoers rule allows it (SETENV).
	if s.cfg.Sudo != "" {
		inv.Env = map[string]string{probeVar: "ok"}
		err := probe(ctx, cfg, inv)
		var pe *probeError
		// sudo 1.9: "sorry, you are not allowed to set the following
		// environment variables: …" (older: "… to preserve the environment").
		if !errors.As(err, &pe) || !strings.Contains(pe.stderr, "not allowed to") || !strings.Contains(pe.stderr, "environment") {
			return err
		}
		s.envErr = fmt.Errorf("%w: %s may run %s but not pass it variables, so an addon's configured env would be lost (fix: add SETENV to the sudoers rule: %s ALL=(root) NOPASSWD:SETENV: %s)",
			ErrSudoDropsEnv, s.cfg.Sudo, s.cfg.Binary, currentUser(), nspawnPath(s.cfg.Binary))
		s.cfg.Logger.Warn("runs with configured variables will fail", "sandbox", Name, "err", s.envErr)
		inv.Env = nil
	}
	return probe(ctx, cfg, inv)
}

// noNewPrivs reports whether this process has no_new_privs set: no
// set-user-ID program it starts gains its owner's rights.
func noNewPrivs() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
			return strings.TrimSpace(v) == "1"
		}
	}
	return false
}

// probeVar is the operator variable of the probe container.
const probeVar = "BERTH_NSPAWN_PROBE"

// ErrSudoDropsEnv is the error of a run with configured variables when
// nspawn.sudo may not pass them to nspawn.
var ErrSudoDropsEnv = errors.New("nspawn.sudo drops the addon's variables")

// probeError is a probe container that ran and failed.
type probeError struct {
	exit   int
	stderr string
}

func (e *probeError) Error() string {
	return fmt.Sprintf("a probe container failed (exit %d): %s", e.exit, e.stderr)
}

// probe starts one container that prints "ok" (or the value of
// inv.Env's probeVar).
func probe(ctx context.Context, cfg Config, inv runner.Invocation) error {
	script, env := "echo ok", []string(nil)
	if v, ok := inv.Env[probeVar]; ok {
		script, env = "echo $"+probeVar, []string{probeVar + "=" + v}
	}
	w, err := New(cfg).Wrap(ctx, proc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Dir: runner.ContainerPaths.Work, Env: env}, inv)
	if err != nil {
		return err
	}
	res, err := proc.Run(ctx, w.Spec)
	w.Finish(res)
	if err != nil {
		return fmt.Errorf("starting a probe container: %w", err)
	}
	if strings.TrimSpace(string(res.Stdout)) != "ok" {
		return &probeError{exit: res.ExitCode, stderr: strings.Join(res.StderrTail, "; ")}
	}
	return nil
}

// currentUser names berth's user, for the sudoers line in an error.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// nspawnPath is bin as a sudoers rule needs it: an absolute path.
func nspawnPath(bin string) string {
	if p, err := exec.LookPath(bin); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return bin
}

// TempPrefix is the prefix of the directory that holds a run's container
// root, removed when the run ends.
func TempPrefix(runID string) string { return "berth-nspawn-" + clean(runID, 40) + "-" }

// Wrap implements runner.Sandbox.
func (s *Sandbox) Wrap(ctx context.Context, spec proc.Spec, inv runner.Invocation) (runner.Wrapped, error) {
	if len(inv.Env) > 0 {
		s.probeMu.Lock()
		err := s.envErr
		s.probeMu.Unlock()
		if err != nil {
			return runner.Wrapped{}, err
		}
	}
	s.sweepOnce.Do(s.sweep)
	// Locked while the run lasts: should berth die, the next one removes
	// it (with nspawn's ephemeral copy of the root, which is inside).
	td, err := leftover.Make(TempPrefix(inv.RunID))
	if err != nil {
		return runner.Wrapped{}, err
	}
	tmp := td.Path
	var group *cgroups.Group
	var extra []*os.File
	cleanup := func() {
		for _, f := range extra {
			f.Close()
		}
		if err := group.Remove(); err != nil {
			s.cfg.Logger.Warn("removing the run's cgroup", "sandbox", Name, "run", inv.RunID, "err", err)
		}
		td.Remove()
	}
	fail := func(err error) (runner.Wrapped, error) {
		cleanup()
		return runner.Wrapped{}, err
	}
	// An OS tree for nspawn: /usr and /etc/os-release, nothing else.
	root := filepath.Join(tmp, "root")
	for _, d := range []string{"usr", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fail(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=berth\nNAME=\"berth addon sandbox\"\n"), 0o644); err != nil {
		return fail(err)
	}
	machine := machineName(inv)
	// For the sweep: what nspawn keeps of the machine elsewhere.
	if err := os.WriteFile(filepath.Join(tmp, machineFile), []byte(machine), 0o600); err != nil {
		return fail(err)
	}
	ni := Invocation{
		Machine:        machine,
		Root:           root,
		Work:           inv.WorkDir,
		Output:         inv.OutputDir,
		Cache:          inv.CacheDir,
		PrivateNetwork: inv.Addon == nil || !inv.Addon.Options.Networking,
		NoRegister:     !Registering(),
		Program:        spec.Path,
		Args:           spec.Args,
	}
	for _, p := range s.cfg.ReadOnly {
		if exists(p) {
			ni.ReadOnly = append(ni.ReadOnly, p)
		}
	}
	for _, p := range MaskedProc {
		if exists(p) {
			ni.Masked = append(ni.Masked, p)
		}
	}
	// The contract's variables go on the command line (--setenv), as in
	// Docspell. Operator variables may be secrets, which never go into
	// argv nor into a file a killed berth would leave: --setenv=NAME
	// makes nspawn pass the value from its own environment.
	// XDG_RUNTIME_DIR is WORK, as Docspell's nspawn runner sets it
	// (RunnerUtil.scala:74), unless the operator gave one.
	env := runner.DefaultEnv(dedupEnv(spec.Env), "XDG_RUNTIME_DIR="+runner.ContainerPaths.Work)
	env = append(env, proc.MarkerVar+"="+marker(spec, inv))
	ni.Env = secretNamesOnly(env, inv.Env)

	attr := &syscall.SysProcAttr{}
	lim := Enforcement(s.cfg.Limits, nil, nil, false)
	if !s.cfg.Limits.Zero() {
		group, err = cgroups.New("nspawn-"+clean(inv.RunID, 40)+"-"+machine[len(machine)-8:], s.cfg.Limits)
		switch {
		case errors.Is(err, cgroups.ErrUnavailable):
			lim = Enforcement(s.cfg.Limits, nil, err, !ni.NoRegister)
			s.warnOnce.Do(func() {
				s.cfg.Logger.Warn("cgroups unavailable, limiting the container by "+lim.By+" (no OOM reporting)", "sandbox", Name, "err", err)
			})
			if ni.NoRegister {
				ni.RlimitData, ni.RlimitNproc = s.cfg.Limits.MemoryBytes, s.cfg.Limits.Pids
			} else {
				ni.Properties = Properties(s.cfg.Limits)
			}
		case err != nil:
			return fail(fmt.Errorf("creating the run's cgroup: %w", err))
		default:
			// The container stays in the run's group (as nspawn itself):
			// registered, its payload would run in machine.slice, outside
			// the limits and berth's unit.
			ni.NoRegister = true
			lim = Enforcement(s.cfg.Limits, group, nil, false)
		}
	}
	// berth's own pid namespace hides nspawn's pid from machined, which
	// then refuses to register the container ("Process 9 is a kernel
	// thread", seen in the Debian 12 VM): without properties to carry,
	// the container is not registered, as with limits in berth's group.
	pidns := ownPidNamespace() && len(ni.Properties) == 0
	if pidns {
		ni.NoRegister = true
	}
	bin, args := CommandLine(s.cfg, ni)
	w := spec
	w.Path, w.Args = bin, args
	w.Dir = tmp
	if path, err := exec.LookPath(bin); err == nil {
		w.Path = path
	}
	if s.cfg.Sudo != "" && !pidns {
		// sudo is set-user-ID, so the kernel drops the parent-death
		// signal proc gives it: a keeper between berth and sudo passes
		// berth's death on to sudo as SIGTERM (nspawn then kills the
		// container), and berth's own signals too.
		w.Path, w.Args = builtin.SudoKeeper(s.cfg.InitPath, append([]string{w.Path}, w.Args...))
	}
	switch {
	case group != nil && group.Version == 2:
		fd, err := os.Open(group.Dir())
		if err != nil {
			return fail(err)
		}
		extra = append(extra, fd)
		attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
	case group != nil:
		procs, err := group.Procs()
		if err != nil {
			return fail(fmt.Errorf("opening the run's cgroup: %w", err))
		}
		extra = append(extra, procs...)
		w.Path, w.Args = builtin.CgroupExec(s.cfg.InitPath, len(procs), append([]string{w.Path}, w.Args...))
		w.ExtraFiles = procs
	}
	if pidns {
		// The helper becomes the init of a pid namespace holding nspawn
		// and its container: when berth dies (SIGKILL), the helper gets
		// the parent-death signal, and with it goes everything below.
		// nspawn killed outright does not always take its container along.
		if !slices.Equal(w.Args[:min(len(w.Args), 1)], []string{nsinit.CgroupExecArg}) {
			w.Path, w.Args = builtin.CgroupExec(s.cfg.InitPath, 0, append([]string{w.Path}, w.Args...))
		}
		attr.Cloneflags |= syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	}
	w.SysProcAttr = attr
	var once sync.Once
	finish := func(proc.Result) (oom bool) {
		once.Do(func() {
			oom = group.OOMKilled()
			cleanup()
			removeState(machine)
			if !ni.NoRegister && s.cfg.Wait > 0 {
				time.Sleep(s.cfg.Wait)
			}
		})
		return oom
	}
	return runner.Wrapped{Spec: w, Isolated: true, Finish: finish, Limits: func() *runner.Enforcement { return lim }}, nil
}

// dedupEnv keeps the last value of each variable (the contract's
// override the operator's), in the order of their last appearance.
func dedupEnv(env []string) []string {
	last := map[string]int{}
	for i, e := range env {
		k, _, _ := strings.Cut(e, "=")
		last[k] = i
	}
	var out []string
	for i, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if last[k] == i {
			out = append(out, e)
		}
	}
	return out
}

// secretNamesOnly is env with each variable the operator configured
// (and the contract did not override) reduced to its name.
func secretNamesOnly(env []string, operator map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if ov, ok := operator[k]; ok && ov == v {
			e = k
		}
		out = append(out, e)
	}
	return out
}

// ownPidNamespace tells whether berth may start nspawn in a pid
// namespace of its own: as root (with sudo, berth cannot make one).
func ownPidNamespace() bool { return os.Geteuid() == 0 }

// machineFile, in a run's temporary directory, names its machine.
const machineFile = "machine"

// sweep removes what runs of berth processes that died left: their
// temporary directories and nspawn's state for their machines.
func (s *Sandbox) sweep() {
	removed, err := leftover.Sweep("berth-nspawn-", time.Minute, func(dir string) {
		if m, err := os.ReadFile(filepath.Join(dir, machineFile)); err == nil && len(m) > 0 && clean(string(m), 80) == string(m) {
			removeState(string(m))
		}
	})
	if len(removed) > 0 {
		s.cfg.Logger.Info("removed the container roots of runs whose berth died", "sandbox", Name, "dirs", removed)
	}
	if err != nil {
		s.cfg.Logger.Warn("removing the container roots of runs whose berth died", "sandbox", Name, "err", err)
	}
}

func marker(spec proc.Spec, inv runner.Invocation) string {
	if spec.Marker != "" {
		return spec.Marker
	}
	return inv.RunID
}

// machineName is unique per run and a valid machine (host) name.
func machineName(inv runner.Invocation) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := "run"
	if inv.Addon != nil {
		id = inv.Addon.ID()
	}
	return "berth-" + clean(id, 40) + "-" + hex.EncodeToString(rnd[:])
}

// clean makes s a short name of letters, digits and dashes.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	return strings.Trim(s, "-")
}

// removeState removes what nspawn keeps per machine under
// nspawnStateDir, which it leaves behind when it is killed outright
// (output cap, berth's final SIGKILL). The machine name is unique to the
// run; failing (a berth using sudo) is harmless.
func removeState(machine string) {
	for _, d := range []string{"propagate", "unix-export"} {
		_ = os.RemoveAll(filepath.Join(nspawnStateDir, d, machine))
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// onTmpfs tells whether dir (or, if missing, the closest existing
// parent, where nspawn would create it) is on a tmpfs.
func onTmpfs(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err == nil {
			return st.Type == unix.TMPFS_MAGIC
		}
		if d == "/" {
			return false
		}
	}
}
