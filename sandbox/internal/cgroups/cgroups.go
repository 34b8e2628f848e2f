package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits are the resource limits of one run; a zero field means no limit.
type Limits struct {
	MemoryBytes int64
	Pids        int64
	// CPUs is the number of CPUs' worth of time per period (1.5 = one and
	// a half cores).
	CPUs float64
	// Parent, when set, is a cgroup v2 group prepared for berth (a path
	// below the cgroup2 mount, or the absolute directory): runs' groups
	// go below it instead of below berth's own cgroup. It is not a limit.
	Parent string
}

// Zero reports whether no limit is set.
func (l Limits) Zero() bool { return l.MemoryBytes <= 0 && l.Pids <= 0 && l.CPUs <= 0 }

// ErrUnavailable is wrapped when berth may not create cgroups here (not
// root, no delegation, controllers missing).
var ErrUnavailable = errors.New("cgroups unavailable")

// Group is the cgroup (one directory per v1 controller, or one v2
// directory) of one run.
type Group struct {
	// Version is 1 or 2.
	Version int
	// Dirs are the directories created, one per v1 controller or the one
	// v2 directory.
	Dirs []string
	mem  string // the directory holding the memory files, or ""
}

const cpuPeriod = 100000 // µs

// Fix says how to give berth cgroups it may use, for errors and doctor.
const Fix = "give berth a delegated cgroup v2 subtree: Delegate=yes in its systemd unit (the shipped berth.service has it), " +
	"or start it with systemd-run --user --scope -p Delegate=yes berth ..., " +
	"or name a group prepared for berth in berth.yaml (sandbox-limits.cgroup)"

// LeafName is the child of berth's own cgroup v2 group that berth moves
// its processes into, so that the group may enable controllers for its
// runs' groups beside it (cgroup v2 lets only a group without processes
// of its own pass controllers on).
const LeafName = "berth-supervisor"

// New creates the cgroup named name (unique per run; the directory is
// name.PID-PIDNS, this process's pid and pid namespace) and writes the
// limits. On cgroup v2 the group goes below berth's own cgroup (or
// lim.Parent), beside the leaf berth moved itself into; on v1 into a
// "berth" child of berth's own group of each controller. The caller
// moves the process in (Procs files for v1, a clone into the v2
// directory) and calls Remove when the run is over. The first New of a
// process also starts RemoveStale in the background.
func New(name string, lim Limits) (*Group, error) {
	mounts, err := readMounts()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	self, err := selfCgroups()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	staleOnce.Do(func() { go removeStale(lim.Parent) })
	name += ownerSuffix()
	if mounts.v2 != "" && v2Controllers(mounts.v2, lim) {
		return newV2(mounts.v2, self["0"], name, lim, controllersFor(lim))
	}
	return newV1(mounts.v1, self, name, lim)
}

var staleOnce sync.Once

// RemoveStale removes the groups New made for processes that are gone
// (a berth killed outright cannot remove its runs' groups), killing
// whatever is left in them, and returns how many it removed. It looks
// where New of this process puts groups (and where older berths did).
func RemoveStale() (int, error) { return removeStale("") }

// parents lists the directories where New of this process puts groups
// (and where berths before delegation put them).
func parents(parent string) (mountTable, []string, error) {
	mounts, err := readMounts()
	if err != nil {
		return mounts, nil, err
	}
	self, err := selfCgroups()
	if err != nil {
		return mounts, nil, err
	}
	var out []string
	if mounts.v2 != "" {
		if base, _, err := chooseV2(mounts.v2, self["0"], parent); err == nil {
			out = append(out, filepath.Join(mounts.v2, base))
		}
		out = append(out, filepath.Join(mounts.v2, self["0"], "berth"), filepath.Join(mounts.v2, "berth"))
	}
	for c, m := range mounts.v1 {
		out = append(out, filepath.Join(m, self[c], "berth"))
	}
	return mounts, out, nil
}

// Leftovers lists the groups whose names start with prefix where New of
// this process puts groups: for tests checking that runs leave nothing.
func Leftovers(prefix string) []string {
	_, dirs, _ := parents("")
	var out []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, prefix+"*"))
		out = append(out, m...)
	}
	return out
}

func removeStale(parent string) (int, error) {
	mounts, parents, err := parents(parent)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, parent := range parents {
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue // none made here yet
		}
		for _, e := range entries {
			if !e.IsDir() || !staleName(e.Name()) {
				continue
			}
			g := &Group{Version: 1, Dirs: []string{filepath.Join(parent, e.Name())}}
			if strings.HasPrefix(parent, mounts.v2+"/") && mounts.v2 != "" {
				g.Version = 2
			}
			if err := g.Remove(); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// chooseV2 says where runs' v2 groups go (base, a path below the mount)
// for a process whose own cgroup is own, and which leaf (below the
// mount) berth's processes must be moved into first ("" for none):
//   - a configured parent: that group, no move (berth need not be in it);
//   - own "/" (the root, where processes may stay, or a cgroup
//     namespace's root): a "berth" child;
//   - own the leaf (berth moved there before): the leaf's parent;
//   - else own itself, after its processes move into the leaf.
func chooseV2(mount, own, parent string) (base, leaf string, err error) {
	if parent != "" {
		if rel, ok := strings.CutPrefix(filepath.Clean(parent), filepath.Clean(mount)+"/"); ok {
			parent = "/" + rel
		}
		if !filepath.IsAbs(parent) {
			return "", "", fmt.Errorf("the cgroup %q is not an absolute path (write /sys/fs/cgroup/NAME, or /NAME below the cgroup2 mount)", parent)
		}
		return filepath.Clean(parent), "", nil
	}
	if own == "" || !strings.HasPrefix(own, "/") {
		return "", "", fmt.Errorf("no cgroup v2 line in /proc/self/cgroup (own group %q)", own)
	}
	own = filepath.Clean(own)
	switch {
	case own == "/":
		return "/berth", "", nil
	case filepath.Base(own) == LeafName:
		return filepath.Dir(own), own, nil
	}
	return own, filepath.Join(own, LeafName), nil
}

// ready remembers the v2 bases prepared by this process (moved out of,
// controllers enabled), keyed by mount, parent and controllers.
var ready struct {
	sync.Mutex
	bases map[string]string
}

// prepareV2 makes the directory where runs' groups go ready and returns
// it: berth's processes moved into the leaf, the controllers want
// enabled in the base's cgroup.subtree_control.
func prepareV2(mount, own, parent string, want []string) (string, error) {
	key := mount + "\x00" + parent + "\x00" + strings.Join(want, ",")
	ready.Lock()
	defer ready.Unlock()
	if d, ok := ready.bases[key]; ok {
		return d, nil
	}
	base, leaf, err := chooseV2(mount, own, parent)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	dir := filepath.Join(mount, base)
	switch {
	case leaf != "":
		if err := moveProcs(dir, filepath.Join(mount, leaf)); err != nil {
			return "", fmt.Errorf("%w: berth's cgroup %s is not delegated to it: %v; %s", ErrUnavailable, dir, err, Fix)
		}
	case parent == "":
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%w: %v; %s", ErrUnavailable, err, Fix)
		}
	}
	if miss := missing(dir, want); len(miss) > 0 {
		if os.Geteuid() != 0 || parent != "" {
			return "", fmt.Errorf("%w: the cgroup %s does not offer the %v controllers (its parent did not pass them on); %s", ErrUnavailable, dir, miss, Fix)
		}
		// Root in a unit without Delegate=yes: pass them down from the
		// top, through groups that hold no processes (slices).
		var chain []string
		for d := filepath.Dir(dir); strings.HasPrefix(d, mount); d = filepath.Dir(d) {
			chain = append([]string{d}, chain...)
			if d == mount {
				break
			}
		}
		for _, d := range chain {
			if err := enableV2(d, miss); err != nil {
				return "", fmt.Errorf("%w: enabling %v in %s: %v; %s", ErrUnavailable, miss, d, err, Fix)
			}
		}
	}
	if err := enableV2(dir, want); err != nil {
		why := "it is not delegated to berth's user"
		if errors.Is(err, syscall.EBUSY) {
			why = "it holds processes (only a group without processes of its own may pass controllers on)"
		}
		return "", fmt.Errorf("%w: enabling %v in %s: %v: %s; %s", ErrUnavailable, want, dir, err, why, Fix)
	}
	if ready.bases == nil {
		ready.bases = map[string]string{}
	}
	ready.bases[key] = dir
	return dir, nil
}

// moveProcs moves every process of the group from into the group to
// (made if missing): they are berth and whatever shares its unit.
func moveProcs(from, to string) error {
	if err := os.Mkdir(to, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	// A process may fork while the others move: a few rounds.
	for round := 0; round < 10; round++ {
		pids := (&Group{}).pidsIn(from)
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			if err := write(to, "cgroup.procs", strconv.Itoa(p)); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("moving process %d into %s: %w", p, to, err)
			}
		}
	}
	return fmt.Errorf("%s keeps gaining processes", from)
}

// missing lists the controllers of want that dir's cgroup.controllers
// does not offer.
func missing(dir string, want []string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	have := strings.Fields(string(b))
	var out []string
	for _, c := range want {
		if !slices.Contains(have, c) {
			out = append(out, c)
		}
	}
	return out
}

// ownerSuffix ends the name of each group this process makes:
// ".PID-PIDNS", its pid and its pid namespace's inode. A pid means
// something only in its namespace, and berths in other pid namespaces
// (containers sharing the host's cgroups) may keep groups side by side
// with this one's.
func ownerSuffix() string {
	return "." + strconv.Itoa(os.Getpid()) + "-" + pidNamespace()
}

// pidNamespace is the inode of this process's pid namespace, "" when
// unknown.
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid") // pid:[4026531836]
	if err != nil || !strings.HasPrefix(l, "pid:[") || !strings.HasSuffix(l, "]") {
		return ""
	}
	return l[len("pid:[") : len(l)-1]
}

// staleName reports whether a group directory's name says it belongs to
// a process of this pid namespace that no longer exists. Groups of other
// pid namespaces, or named otherwise, are never stale here: their owner
// cannot be checked.
func staleName(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return false
	}
	pidStr, ns, ok := strings.Cut(name[i+1:], "-")
	if !ok || ns == "" || ns != pidNamespace() {
		return false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// UsesV2 reports whether New would make a v2 group for lim (else it
// would try v1); it reads the mount table, as New does.
func UsesV2(lim Limits) bool {
	mounts, err := readMounts()
	return err == nil && mounts.v2 != "" && v2Controllers(mounts.v2, lim)
}

func newV2(mount, own, name string, lim Limits, want []string) (*Group, error) {
	base, err := prepareV2(mount, own, lim.Parent, want)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(base, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	g := &Group{Version: 2, Dirs: []string{dir}}
	var errs []error
	if lim.MemoryBytes > 0 {
		g.mem = dir
		errs = append(errs, write(dir, "memory.max", strconv.FormatInt(lim.MemoryBytes, 10)))
		if exists(filepath.Join(dir, "memory.swap.max")) {
			errs = append(errs, write(dir, "memory.swap.max", "0"))
		}
	}
	if lim.Pids > 0 {
		errs = append(errs, write(dir, "pids.max", strconv.FormatInt(lim.Pids, 10)))
	}
	if lim.CPUs > 0 {
		errs = append(errs, write(dir, "cpu.max", fmt.Sprintf("%d %d", int64(lim.CPUs*cpuPeriod), cpuPeriod)))
	}
	if err := errors.Join(errs...); err != nil {
		g.Remove()
		return nil, err
	}
	return g, nil
}

func newV1(mounts map[string]string, self map[string]string, name string, lim Limits) (*Group, error) {
	g := &Group{Version: 1}
	type ctl struct {
		name  string
		want  bool
		setup func(dir string) error
	}
	ctls := []ctl{
		{"memory", lim.MemoryBytes > 0, func(dir string) error {
			g.mem = dir
			v := strconv.FormatInt(lim.MemoryBytes, 10)
			if err := write(dir, "memory.limit_in_bytes", v); err != nil {
				return err
			}
			if exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
				// No swapping around the limit.
				return write(dir, "memory.memsw.limit_in_bytes", v)
			}
			return nil
		}},
		{"pids", lim.Pids > 0, func(dir string) error {
			return write(dir, "pids.max", strconv.FormatInt(lim.Pids, 10))
		}},
		{"cpu", lim.CPUs > 0, func(dir string) error {
			if err := write(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err != nil {
				return err
			}
			return write(dir, "cpu.cfs_quota_us", strconv.FormatInt(int64(lim.CPUs*cpuPeriod), 10))
		}},
	}
	for _, c := range ctls {
		if !c.want {
			continue
		}
		mount, ok := mounts[c.name]
		if !ok {
			g.Remove()
			return nil, fmt.Errorf("%w: no cgroup v1 %s controller mounted", ErrUnavailable, c.name)
		}
		dir := filepath.Join(mount, self[c.name], "berth", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			g.Remove()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		g.Dirs = append(g.Dirs, dir)
		if err := c.setup(dir); err != nil {
			g.Remove()
			return nil, err
		}
	}
	return g, nil
}

// Procs opens the cgroup.procs files of a v1 group, for the sandbox's
// init to move itself in (writing "0"), since the process is started
// before its pid is known. The caller closes them.
func (g *Group) Procs() ([]*os.File, error) {
	var fs []*os.File
	for _, d := range g.Dirs {
		f, err := os.OpenFile(filepath.Join(d, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range fs {
				f.Close()
			}
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Join moves process pid (with its threads) into every directory of the
// group.
func (g *Group) Join(pid int) error {
	for _, d := range g.Dirs {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Dir returns the v2 directory (for clone into cgroup), or "".
func (g *Group) Dir() string {
	if g.Version == 2 && len(g.Dirs) == 1 {
		return g.Dirs[0]
	}
	return ""
}

// OOMKilled reports whether the memory limit killed a process.
func (g *Group) OOMKilled() bool {
	if g == nil || g.mem == "" {
		return false
	}
	file, key := "memory.oom_control", "oom_kill"
	if g.Version == 2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(g.mem, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n > 0
		}
	}
	return false
}

// Pids lists the processes still in the group.
func (g *Group) Pids() []int {
	var out []int
	for _, d := range g.Dirs {
		out = append(out, g.pidsIn(d)...)
		if g.Version == 1 {
			break // every v1 directory holds the same processes
		}
	}
	return out
}

// Remove kills whatever is left in the group and deletes it.
func (g *Group) Remove() error {
	if g == nil {
		return nil
	}
	if g.Version == 2 && len(g.Dirs) == 1 && exists(filepath.Join(g.Dirs[0], "cgroup.kill")) {
		_ = write(g.Dirs[0], "cgroup.kill", "1")
	}
	var dirs []string
	for _, d := range g.Dirs {
		dirs = append(dirs, d)
		if g.Version == 2 {
			// Groups a run made below its own (nspawn --keep-unit puts its
			// payload in a child) go first, deepest first.
			dirs = append(dirs, descendants(d)...)
		}
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		var err error
		// A group empties a moment after its last process is killed:
		// poll soon at first, then back off (about a second in all).
		wait := 100 * time.Microsecond
		for try := 0; try < 250; try++ {
			for _, p := range g.pidsIn(d) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(wait)
			wait = min(2*wait, 5*time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
		}
	}
	g.Dirs = nil
	return errors.Join(errs...)
}

// descendants lists the groups below d, parents before their children.
func descendants(d string) []string {
	var out []string
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		if e.IsDir() {
			c := filepath.Join(d, e.Name())
			out = append(out, c)
			out = append(out, descendants(c)...)
		}
	}
	return out
}

// pidsIn lists the processes in directory d. cgroup v2 lists a process
// outside this pid namespace as 0, and kill(0, …) or kill(-1, …) would
// hit berth's own process group or every process it may signal: only
// positive pids are processes.
func (g *Group) pidsIn(d string) []int {
	b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil && p > 0 {
			out = append(out, p)
		}
	}
	return out
}

type mountTable struct {
	v2 string            // the cgroup2 mount point, or ""
	v1 map[string]string // controller → mount point
}

func readMounts() (mountTable, error) {
	t := mountTable{v1: map[string]string{}}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return t, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent dev root mountpoint opts ... - fstype source superopts
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		pre, post := strings.Fields(line[:i]), strings.Fields(line[i+3:])
		if len(pre) < 5 || len(post) < 3 {
			continue
		}
		switch post[0] {
		case "cgroup2":
			if t.v2 == "" {
				t.v2 = pre[4]
			}
		case "cgroup":
			for _, o := range strings.Split(post[2], ",") {
				switch o {
				case "memory", "pids", "cpu":
					t.v1[o] = pre[4]
				}
			}
		}
	}
	return t, sc.Err()
}

// selfCgroups maps each v1 controller (and "0" for v2) to berth's own
// cgroup path.
func selfCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(string(b)), nil
}

// parseProcCgroup reads /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines;
// ID 0 with no controllers is the v2 group).
func parseProcCgroup(data string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			out["0"] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				out[c] = parts[2]
			}
		}
	}
	return out
}

func controllersFor(lim Limits) []string {
	var c []string
	if lim.MemoryBytes > 0 {
		c = append(c, "memory")
	}
	if lim.Pids > 0 {
		c = append(c, "pids")
	}
	if lim.CPUs > 0 {
		c = append(c, "cpu")
	}
	return c
}

// v2Controllers reports whether the v2 hierarchy offers what lim needs
// (on hybrid hosts it offers nothing: the controllers are on v1).
func v2Controllers(mount string, lim Limits) bool {
	b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		return false
	}
	have := strings.Fields(string(b))
	for _, c := range controllersFor(lim) {
		found := false
		for _, h := range have {
			found = found || h == c
		}
		if !found {
			return false
		}
	}
	return true
}

func enableV2(dir string, ctls []string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(b))
	var add []string
	for _, c := range ctls {
		found := false
		for _, o := range on {
			found = found || o == c
		}
		if !found {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return write(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s: %w", filepath.Join(dir, file), err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
