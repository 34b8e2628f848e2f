package nsinit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Arg, as the first argument, makes a binary that calls Main the init
// of a new sandbox.
const Arg = "__berth-sandbox-init__"

// Version is the version of the configuration berth passes to the init
// (and of the way it does: Config as one line of JSON on fd 3, then
// GoByte once the init may start the program).
// An init built from other sources (say, a berth-sandbox-init left from
// an older install) refuses a configuration of another version rather
// than ignore a field it does not know.
const Version = 2

// GoByte, written on fd 3 after the configuration, lets the init start
// the program.
const GoByte = 'g'

// Exit codes of the init itself (the program's own code is passed on).
const (
	ExitVersion  = 124 // the configuration is of another Version
	ExitSetup    = 125 // the sandbox could not be set up
	ExitNotExec  = 126 // the program exists but cannot be executed
	ExitNotFound = 127 // the program does not exist inside the sandbox
)

// oldRoot is where the host's root is reachable during set-up.
const oldRoot = "/.berth-oldroot"

// Config is what berth tells the init, as JSON on fd 3.
type Config struct {
	// Version must be this package's Version.
	Version int      `json:"version"`
	Program string   `json:"program"`
	Args    []string `json:"args"`
	Dir     string   `json:"dir"`
	// Symlinks are created in the new root (merged-/usr links such as
	// /bin -> usr/bin).
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// Binds are host paths (already free of symlinks) bound into the root.
	Binds []Bind `json:"binds,omitempty"`
	// Files are written into the new root (minimal /etc).
	Files []File `json:"files,omitempty"`
	// LoopbackOnly brings up lo in the new, empty network namespace.
	LoopbackOnly bool     `json:"loopbackOnly,omitempty"`
	Hostname     string   `json:"hostname"`
	Rlimits      []Rlimit `json:"rlimits,omitempty"`
	// TmpfsBytes bounds each writable tmpfs (/tmp, /dev/shm); 0 means the
	// kernel's default (half the host's RAM).
	TmpfsBytes int64 `json:"tmpfsBytes,omitempty"`
	// Probe sets everything up, then exits 0 without running a program.
	Probe bool `json:"probe,omitempty"`
}

// Symlink is a symbolic link created in the new root.
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// Bind is a host path bound into the new root.
type Bind struct {
	Src string `json:"src"` // host path
	Dst string `json:"dst"` // path inside
	RW  bool   `json:"rw,omitempty"`
	Dir bool   `json:"dir"`
}

// File is a file written into the new root.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Rlimit is a resource limit (unix.RLIMIT_*) set on the program when
// no cgroup limits it.
type Rlimit struct {
	Resource int    `json:"resource"`
	Value    uint64 `json:"value"`
}

// IsInit reports whether this process was started as a sandbox's init
// (or as one of its helpers: the cgroup-joining one of the nspawn
// sandbox, the rlimit-setting one, the keeper of a command run through
// sudo, the hand-back of a docker run's files).
func IsInit() bool {
	if len(os.Args) < 2 {
		return false
	}
	switch os.Args[1] {
	case Arg, CgroupExecArg, rlimitExecArg, SudoKeeperArg, HandbackArg:
		return true
	}
	return false
}

// Main runs the sandbox's init (or the helper IsInit found) and exits
// the process with the program's exit status; it never returns. It must
// be called before anything else in main: it relies on a fresh process
// inside the new namespaces.
func Main() {
	if !IsInit() {
		fmt.Fprintf(os.Stderr, "berth-sandbox-init: berth starts this program as the init of its builtin sandbox; it is not meant to be run by hand\n")
		os.Exit(2)
	}
	switch os.Args[1] {
	case CgroupExecArg:
		os.Exit(cgroupExec())
	case rlimitExecArg:
		os.Exit(rlimitExec())
	case SudoKeeperArg:
		os.Exit(sudoKeeper())
	case HandbackArg:
		os.Exit(handback())
	}
	runtime.LockOSThread() // credentials, seccomp and the fork stay on this thread
	os.Exit(runInit())
}

func runInit() int {
	fail := func(step string, err error) int {
		fmt.Fprintf(os.Stderr, "berth sandbox: %s: %v\n", step, err)
		return ExitSetup
	}
	cfgFile := os.NewFile(3, "sandbox-config")
	if cfgFile == nil {
		return fail("reading configuration", errors.New("fd 3 is not open"))
	}
	cfgIn := bufio.NewReader(cfgFile)
	line, err := cfgIn.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return fail("reading configuration", err)
	}
	var c Config
	if err := json.Unmarshal(line, &c); err != nil {
		return fail("reading configuration", err)
	}
	if c.Version != Version {
		fmt.Fprintf(os.Stderr, "berth sandbox: configuration version %d, this init understands %d: the init binary is not from the same build as berth\n", c.Version, Version)
		return ExitVersion
	}
	// Nothing inside may inspect the init through /proc (its executable
	// is berth's binary on the host).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail("dumpable", err)
	}
	if err := setupRoot(&c); err != nil {
		return fail("setting up the root", err)
	}
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fail("hostname", err)
	}
	if c.LoopbackOnly {
		if err := loopbackUp(); err != nil {
			return fail("loopback", err)
		}
	}
	// Berth says go once the init is in the run's cgroups (a move that
	// takes a few milliseconds on cgroup v1, overlapping with the set-up
	// above); nothing of the program runs before.
	if b, err := cfgIn.ReadByte(); err != nil || b != GoByte {
		return fail("waiting for berth", fmt.Errorf("no go-ahead (%v): berth gave up on this run", err))
	}
	// Now in the run's cgroups: a cgroup namespace rooted there, so the
	// program sees "/" rather than where berth keeps it on the host.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil && !errors.Is(err, unix.EINVAL) {
		return fail("cgroup namespace", err) // EINVAL: before Linux 4.6, none to have
	}
	if err := dropCapabilities(); err != nil {
		return fail("dropping capabilities", err)
	}
	if err := installSeccomp(); err != nil {
		return fail("installing the seccomp filter", err)
	}
	cfgFile.Close()
	if c.Probe {
		fmt.Println("ok")
		return 0
	}
	return superviseProgram(&c)
}

// superviseProgram starts the program as the only child of the init,
// reaps every orphan, forwards termination signals, and returns the
// program's status. When the init exits, the kernel kills whatever is
// left in the pid namespace (double-forked daemons included).
func superviseProgram(c *Config) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	argv := append([]string{c.Program}, c.Args...)
	path := c.Program
	if len(c.Rlimits) > 0 {
		// Rlimits would break the init's Go runtime (address space,
		// threads): a helper sets them on itself and execs the program.
		path = "/proc/self/exe"
		argv = append([]string{"berth", rlimitExecArg, encodeRlimits(c.Rlimits)}, argv...)
	}
	if err := closeInheritedFiles(); err != nil {
		fmt.Fprintf(os.Stderr, "berth sandbox: closing inherited files: %v\n", err)
		return ExitSetup
	}
	pid, err := forkExec(path, argv, &syscall.ProcAttr{
		Dir:   c.Dir,
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		return startFailed(c.Program, err)
	}
	go func() {
		for s := range sigs {
			_ = unix.Kill(-1, s.(syscall.Signal))
		}
	}()
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return ExitSetup
		}
		if p != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// closeInheritedFiles marks every descriptor above stderr close-on-exec:
// ForkExec passes 0-2 but does not close the rest, and one that berth
// inherited without close-on-exec (say, a host directory its parent left
// open) would otherwise reach the program, and the host through it.
func closeInheritedFiles() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: one by one.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// setupRoot builds the sandbox's file system on a tmpfs and pivots into
// it, so that nothing of the host is reachable but what c binds.
func setupRoot(c *Config) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	// The host's mounts, read once: a recursive bind brings those below
	// its source along, and each needs its own remount.
	hostMounts, err := mountPoints()
	if err != nil {
		return fmt.Errorf("reading the mount table: %w", err)
	}
	// The tmpfs goes over some existing directory; pivot_root moves it
	// away from there, so the host's directory stays reachable below
	// oldRoot.
	base := "/tmp"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = "/mnt"
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting the new root: %w", err)
	}
	if err := os.Mkdir(base+oldRoot, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(base, base+oldRoot); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	for _, l := range c.Symlinks {
		if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(l.Target, l.Path); err != nil {
			return err
		}
	}
	for _, b := range c.Binds {
		if err := bindMount(b, hostMounts); err != nil {
			return err
		}
	}
	for _, f := range c.Files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.Path, []byte(f.Content), 0o644); err != nil {
			return err
		}
	}
	if err := setupProc(); err != nil {
		return err
	}
	if err := setupDev(c.TmpfsBytes); err != nil {
		return err
	}
	if err := os.MkdirAll("/tmp", 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmpfsOptions(c.TmpfsBytes)); err != nil {
		return fmt.Errorf("mounting /tmp: %w", err)
	}
	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	if err := os.Remove(oldRoot); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making / read-only: %w", err)
	}
	if c.Dir != "" {
		if err := unix.Chdir(c.Dir); err != nil {
			return fmt.Errorf("entering %s: %w", c.Dir, err)
		}
	}
	return nil
}

func bindMount(b Bind, hostMounts []string) error {
	src := oldRoot + b.Src
	if b.Dir {
		if err := os.MkdirAll(b.Dst, 0o755); err != nil {
			return err
		}
	} else if _, err := os.Lstat(b.Dst); err != nil {
		// A file below a path bound already (read-only) has its mount
		// point there: only a missing one is made.
		if err := os.MkdirAll(filepath.Dir(b.Dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(b.Dst, nil, 0o644); err != nil {
			return err
		}
	}
	if err := unix.Mount(src, b.Dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s at %s: %w", b.Src, b.Dst, err)
	}
	extra := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if !b.RW {
		extra |= unix.MS_RDONLY
	}
	// A recursive bind keeps the submounts' own flags: remount each.
	for i, m := range boundMounts(b, hostMounts) {
		err := remount(m, extra)
		if i > 0 && errors.Is(err, unix.ENOENT) {
			// A host mount hidden under a later one (mounted over a
			// directory above it) comes along but has no path here:
			// nothing can reach it to write.
			continue
		}
		if err != nil {
			return fmt.Errorf("remounting %s: %w", m, err)
		}
	}
	return nil
}

// remount applies extra to the bind mount at path, keeping the flags
// the kernel locks in a user namespace (nosuid, nodev, noexec, atime).
func remount(path string, extra uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT|unix.MS_BIND) | extra
	for _, m := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if uintptr(st.Flags)&m.st != 0 {
			flags |= m.ms
		}
	}
	return unix.Mount("", path, "", flags, "")
}

// mountPoints lists the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, unescapeMountinfo(fields[4]))
	}
	return out, sc.Err()
}

// boundMounts lists the mount points a recursive bind of b made: b.Dst,
// then where each host mount below b's source (hostMounts: the host's
// mount points) landed, parents first.
func boundMounts(b Bind, hostMounts []string) []string {
	out := []string{b.Dst}
	if !b.Dir {
		return out
	}
	src := strings.TrimSuffix(b.Src, "/")
	for _, mp := range hostMounts {
		if strings.HasPrefix(mp, src+"/") {
			out = append(out, b.Dst+mp[len(src):])
		}
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return len(out[1+i]) < len(out[1+j]) })
	return out
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func setupProc() error {
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	// Kernel knobs stay read-only even for the namespace's root.
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", p, err)
		}
		if err := remount(p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
			return fmt.Errorf("making %s read-only: %w", p, err)
		}
	}
	// What the kernel tells about itself, its timers and keys is none of
	// the program's business (for a berth running as root, the
	// namespace's root owns these files), as under docker.
	for _, p := range maskedProc {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
		} else {
			err = unix.Mount(oldRoot+"/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

// maskedProc are the /proc entries hidden inside the sandbox (docker's
// list).
var maskedProc = []string{
	"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/latency_stats", "/proc/kallsyms", "/proc/acpi", "/proc/scsi", "/proc/asound",
}

// tmpfsOptions are the mount options of a writable tmpfs of at most size
// bytes (0: the kernel's default).
func tmpfsOptions(size int64) string {
	if size > 0 {
		return "mode=1777,size=" + strconv.FormatInt(size, 10)
	}
	return "mode=1777"
}

func setupDev(shmBytes int64) error {
	if err := os.MkdirAll("/dev", 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		src := oldRoot + "/dev/" + d
		if _, err := os.Stat(src); err != nil {
			continue
		}
		dst := "/dev/" + d
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s: %w", dst, err)
		}
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
		"stderr": "/proc/self/fd/2", "core": "/proc/kcore",
	} {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return err
		}
	}
	if err := os.Mkdir("/dev/shm", 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmpfsOptions(shmBytes)); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	return remount("/dev", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC)
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// Securebits (linux/securebits.h): root gets no capabilities from exec,
// and that cannot be undone.
const (
	secbitNoroot             = 1 << 0
	secbitNorootLocked       = 1 << 1
	secbitNoSetuidFixup      = 1 << 2
	secbitNoSetuidFixupLock  = 1 << 3
	secbitKeepCapsLocked     = 1 << 5
	secbitNoCapAmbientRaise  = 1 << 6
	secbitNoCapAmbientLocked = 1 << 7
)

// dropCapabilities leaves the init's thread (and so the program it
// starts) without any capability, even as the namespace's root.
func dropCapabilities() error {
	bits := secbitNoroot | secbitNorootLocked | secbitNoSetuidFixup | secbitNoSetuidFixupLock |
		secbitKeepCapsLocked | secbitNoCapAmbientRaise | secbitNoCapAmbientLocked
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits), 0, 0, 0); err != nil {
		return fmt.Errorf("securebits: %w", err)
	}
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // past the kernel's last capability
			}
			return fmt.Errorf("bounding set: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("ambient: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	return unix.Capset(&hdr, &data[0])
}

// rlimitExecArg, as the first argument, makes the berth binary set the
// rlimits of its second argument on itself and exec the rest.
const rlimitExecArg = "__berth-rlimit-exec__"

func encodeRlimits(rs []Rlimit) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d=%d", r.Resource, r.Value)
	}
	return strings.Join(parts, ",")
}

func rlimitExec() int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "berth rlimit-exec: usage: LIMITS PROGRAM [ARG...]")
		return ExitSetup
	}
	for _, part := range strings.Split(os.Args[2], ",") {
		var res int
		var val uint64
		if _, err := fmt.Sscanf(part, "%d=%d", &res, &val); err != nil {
			fmt.Fprintf(os.Stderr, "berth rlimit-exec: bad limit %q\n", part)
			return ExitSetup
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: val, Max: val}); err != nil {
			fmt.Fprintf(os.Stderr, "berth rlimit-exec: rlimit %d: %v\n", res, err)
			return ExitSetup
		}
	}
	argv := os.Args[3:]
	err := retryBusy(func() error { return syscall.Exec(argv[0], argv, os.Environ()) })
	if errors.Is(err, syscall.ENOEXEC) {
		sh, shArgv := shellFallback(argv)
		err = retryBusy(func() error { return syscall.Exec(sh, shArgv, os.Environ()) })
	}
	return startFailed(argv[0], err)
}

// startFailed reports why the program could not be started and returns
// the init's exit code for it.
func startFailed(program string, err error) int {
	fmt.Fprintf(os.Stderr, "berth sandbox: starting %s: %v\n", program, err)
	if errors.Is(err, syscall.ENOENT) {
		return ExitNotFound
	}
	return ExitNotExec
}

// forkExec starts path as execvp(3) would, and as Java's ProcessBuilder
// (which Docspell starts addons with) does: a file the kernel refuses
// as not a program (ENOEXEC: no "#!" on its first line, as in
// Docspell's AddonGenerator.scala:100-101, a blank line before the
// shebang) runs through /bin/sh. "Text file busy" is retried.
func forkExec(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	var pid int
	err := retryBusy(func() (err error) {
		pid, err = syscall.ForkExec(path, argv, attr)
		return err
	})
	if errors.Is(err, syscall.ENOEXEC) {
		sh, shArgv := shellFallback(argv)
		err = retryBusy(func() (err error) {
			pid, err = syscall.ForkExec(sh, shArgv, attr)
			return err
		})
	}
	return pid, err
}

// shellFallback is execvp's answer to ENOEXEC: /bin/sh runs the file,
// with the same arguments after it.
func shellFallback(argv []string) (string, []string) {
	return "/bin/sh", append([]string{"/bin/sh"}, argv...)
}

// retryBusy calls start until it does not fail with ETXTBSY, for about
// a second: a program berth has just written (an addon copied into
// WORK) stays "text file busy" while a child that another goroutine of
// berth forks at that moment holds it open, until that child execs —
// milliseconds. berth retries the same way outside a sandbox (proc).
func retryBusy(start func() error) error {
	err := start()
	for try := 1; errors.Is(err, syscall.ETXTBSY) && try < 50; try++ {
		time.Sleep(time.Duration(try) * time.Millisecond)
		err = start()
	}
	return err
}
