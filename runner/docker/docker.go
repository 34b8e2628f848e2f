package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/internal/beneath"
	"github.com/berth-dev/berth/internal/leftover"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
)

// buildTailLines is how many of a build's last output lines a failed
// build reports.
const buildTailLines = 30

// availableFor is how long a successful Available answer is reused: the
// executor asks before every run, and `docker info` is not free.
const availableFor = 30 * time.Second

// cleanupTimeout bounds removing a container after its run, on a context
// of its own so that a cancelled run still cleans up.
const cleanupTimeout = 30 * time.Second

// Runner runs addons in docker or podman containers. It is safe for
// concurrent use.
type Runner struct {
	cfg Config
	eng *engine.Client
	log *slog.Logger

	mu      sync.Mutex
	availOK time.Time
	// images remembers when an image was last seen present, so that a
	// run of an unchanged addon costs no `image inspect`. An entry is
	// dropped when a container of that image cannot start.
	images map[string]time.Time

	// users remembers the image's user (docker.user: image), as long.
	users map[string]cachedUser
	// sweepOnce removes what dead berths left, before the first run.
	sweepOnce sync.Once

	// seccomp is the profile podman containers run with (made once).
	seccompOnce sync.Once
	seccomp     []byte
	seccompErr  error
}

// seccompProfile is the seccomp profile for a container of this
// runner's engine, nil for docker, whose default profile already
// refuses user namespaces.
func (r *Runner) seccompProfile() ([]byte, error) {
	if r.eng.Flavor() != "podman" {
		return nil, nil
	}
	r.seccompOnce.Do(func() { r.seccomp, r.seccompErr = podmanProfile() })
	return r.seccomp, r.seccompErr
}

// imagesFor is how long an image seen present is trusted without asking
// the engine again.
const imagesFor = 10 * time.Minute

func (r *Runner) imageKnown(ref string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.images[ref]
	return ok && time.Since(at) < imagesFor
}

func (r *Runner) rememberImage(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.images == nil {
		r.images = map[string]time.Time{}
	}
	r.images[ref] = time.Now()
}

func (r *Runner) forgetImage(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.images, ref)
	delete(r.users, ref)
}

var (
	_ runner.Runner  = (*Runner)(nil)
	_ runner.Builder = (*Runner)(nil)
)

// Option configures a Runner.
type Option func(*Runner)

// WithLogger sets the logger. Without it the runner logs to whatever
// slog.Default() is at the time of each call, so a CLI may configure
// logging after building its runners.
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

func (r *Runner) logger() *slog.Logger {
	if r.log != nil {
		return r.log
	}
	return slog.Default()
}

// WithEngine makes the runner use c instead of a client built from
// Config.Binary and Config.GlobalArgs.
func WithEngine(c *engine.Client) Option { return func(r *Runner) { r.eng = c } }

// New returns a docker runner for cfg. Zero Binary, Pull, BuildTimeout
// and Network take their defaults; everything else is used as given, so
// start from DefaultConfig. Check cfg with Config.Validate first.
func New(cfg Config, opts ...Option) *Runner {
	r := &Runner{cfg: cfg.withDefaults()}
	for _, o := range opts {
		o(r)
	}
	if r.eng == nil {
		opts := []engine.Option{engine.WithGlobalArgs(r.cfg.GlobalArgs...)}
		if r.log != nil {
			opts = append(opts, engine.WithLogger(r.log))
		}
		r.eng = engine.New(r.cfg.Binary, opts...)
	}
	return r
}

// Name implements runner.Runner: "docker", whichever binary is used.
func (r *Runner) Name() string { return addon.RunnerDocker }

// Engine is the engine client the runner uses.
func (r *Runner) Engine() *engine.Client { return r.eng }

// Available implements runner.Runner: the binary must be found and its
// daemon must answer. The error says how to fix what is missing.
func (r *Runner) Available(ctx context.Context) error {
	r.mu.Lock()
	ok := time.Since(r.availOK) < availableFor
	r.mu.Unlock()
	if ok {
		return nil
	}
	bin := r.eng.Binary
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%s not found (%v): install it (apt-get install -y docker.io, or podman) or set docker.binary in berth.yaml", bin, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.eng.Ping(ctx); err != nil {
		switch {
		case errors.Is(err, engine.ErrDaemonUnreachable) && r.eng.Flavor() == "podman":
			return fmt.Errorf("podman does not answer: %w; check `podman info` as the user berth runs as", err)
		case errors.Is(err, engine.ErrDaemonUnreachable):
			return fmt.Errorf("the docker daemon does not answer: %w; start it (systemctl start docker, or dockerd &) and make sure berth may use its socket (DOCKER_HOST, /var/run/docker.sock)", err)
		}
		return fmt.Errorf("%s info failed: %w", bin, err)
	}
	r.mu.Lock()
	r.availOK = time.Now()
	r.mu.Unlock()
	return nil
}

// ImageError says that an addon's runner.docker.image cannot be had.
type ImageError struct {
	Addon  string // name-version
	Image  string
	Reason string
	Err    error // the engine's error, may be nil; Reason has its gist
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("%s: runner.docker.image %s %s", e.Addon, e.Image, e.Reason) + fmt.Sprintf("; load it (docker load -i FILE), tag a local image as it (docker tag SOURCE %s), or make a registry reachable", e.Image)
}

func (e *ImageError) Unwrap() error { return e.Err }

// Prepare implements runner.Runner: Build without progress output.
func (r *Runner) Prepare(ctx context.Context, a *addon.Addon) (runner.Prepared, error) {
	return r.Build(ctx, a, nil)
}

// Build makes the addon's image ready, writing progress to progress
// (nil discards it); `berth addon build` calls it. With
// runner.docker.image it checks or pulls that image per the pull policy;
// otherwise it builds the Dockerfile (runner.docker.build, default
// Dockerfile) with the addon dir as context and tags the image
// ImageTag(name, version, content hash). When that tag exists nothing is
// built and Prepared.Cached is true. A failed or timed-out build is a
// *runner.BuildError holding the build's last output lines.
func (r *Runner) Build(ctx context.Context, a *addon.Addon, progress io.Writer) (runner.Prepared, error) {
	if progress == nil {
		progress = io.Discard
	}
	if !slices.Contains(a.Runners(), addon.RunnerDocker) {
		return runner.Prepared{}, fmt.Errorf("%s does not enable the docker runner", a.ID())
	}
	if ref := a.Runner.Docker.Image; ref != "" {
		return r.ensureImage(ctx, a, ref, progress)
	}
	return r.buildImage(ctx, a, progress)
}

func (r *Runner) ensureImage(ctx context.Context, a *addon.Addon, ref string, progress io.Writer) (runner.Prepared, error) {
	if r.cfg.Pull != PullAlways {
		if r.imageKnown(ref) {
			return runner.Prepared{Image: ref, Cached: true}, nil
		}
		ok, err := r.eng.ImageExists(ctx, ref)
		if err != nil {
			return runner.Prepared{}, fmt.Errorf("%s: looking for image %s: %w", a.ID(), ref, err)
		}
		if ok {
			fmt.Fprintf(progress, "image %s is present\n", ref)
			r.rememberImage(ref)
			return runner.Prepared{Image: ref, Cached: true}, nil
		}
		if r.cfg.Pull == PullNever {
			return runner.Prepared{}, &ImageError{Addon: a.ID(), Image: ref, Reason: "is not present locally and docker.pull is never"}
		}
	}
	fmt.Fprintf(progress, "pulling %s\n", ref)
	tail, err := r.stream(ctx, []string{"pull", ref}, nil, progress)
	if err != nil {
		if ctx.Err() != nil {
			return runner.Prepared{}, fmt.Errorf("%s: pulling %s: %w", a.ID(), ref, ctx.Err())
		}
		reason := "could not be pulled"
		if len(tail) > 0 {
			reason += " (" + tail[len(tail)-1] + ")"
		}
		return runner.Prepared{}, &ImageError{Addon: a.ID(), Image: ref, Reason: reason, Err: err}
	}
	r.rememberImage(ref)
	return runner.Prepared{Image: ref}, nil
}

func (r *Runner) buildImage(ctx context.Context, a *addon.Addon, progress io.Writer) (runner.Prepared, error) {
	dockerfile := a.Runner.Docker.Build
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	content, err := readBuildFiles(a, dockerfile)
	if err != nil {
		return runner.Prepared{}, err
	}
	hash, err := addon.ContentHash(a.Dir)
	if err != nil {
		return runner.Prepared{}, err
	}
	tag := ImageTag(a.Meta.Name, a.Meta.Version, hash)
	log := r.logger().With("addon", a.ID(), "runner", addon.RunnerDocker, "image", tag)
	if r.imageKnown(tag) {
		fmt.Fprintf(progress, "image %s is built already\n", tag)
		return runner.Prepared{Image: tag, Cached: true}, nil
	}
	ok, err := r.eng.ImageExists(ctx, tag)
	if err != nil {
		return runner.Prepared{}, fmt.Errorf("%s: looking for image %s: %w", a.ID(), tag, err)
	}
	if ok {
		fmt.Fprintf(progress, "image %s is built already\n", tag)
		log.Debug("image cached")
		r.rememberImage(tag)
		return runner.Prepared{Image: tag, Cached: true}, nil
	}

	fmt.Fprintf(progress, "building %s from %s\n", tag, dockerfile)
	log.Info("building image", "dockerfile", dockerfile)
	bctx, cancel := context.WithTimeout(ctx, r.cfg.BuildTimeout)
	defer cancel()
	labels := map[string]string{
		LabelAddon:   a.Meta.Name,
		LabelVersion: a.Meta.Version,
		LabelHash:    hash,
	}
	start := time.Now()
	// The Dockerfile goes on stdin, as berth read it inside the addon's
	// directory: the engine never opens a path the addon chose.
	tail, err := r.stream(bctx, BuildArgs("-", tag, labels, r.cfg.BuildNetwork, a.Dir), bytes.NewReader(content), progress)
	if err != nil {
		var cause error
		var ee *engine.Error
		switch {
		case ctx.Err() != nil:
			cause = fmt.Errorf("building %s: %w", tag, ctx.Err())
		case bctx.Err() != nil:
			cause = fmt.Errorf("building %s: timed out after %v (docker.build-timeout): %w", tag, r.cfg.BuildTimeout, bctx.Err())
		case errors.As(err, &ee):
			cause = fmt.Errorf("building %s from %s: exit status %d: %w", tag, dockerfile, ee.ExitCode, ee.Kind)
		default:
			cause = fmt.Errorf("building %s from %s: %w", tag, dockerfile, err)
		}
		log.Warn("build failed", "err", cause)
		return runner.Prepared{BuildLog: tail}, &runner.BuildError{Runner: addon.RunnerDocker, Err: cause, Tail: tail}
	}
	log.Info("image built", "duration", time.Since(start))
	r.rememberImage(tag)
	return runner.Prepared{Image: tag, BuildLog: tail}, nil
}

// maxDockerfile bounds the Dockerfile berth reads into memory.
const maxDockerfile = 1 << 20

// buildIgnoreFiles are the files of a build context that the engine's
// client reads itself (docker: .dockerignore; podman also
// .containerignore).
var buildIgnoreFiles = []string{".dockerignore", ".containerignore"}

// readBuildFiles reads the addon's Dockerfile (runner.docker.build)
// inside its directory, symlinks resolved there (os.Root): one leading
// outside (say, to /etc/shadow) is refused, and its content never
// reaches the engine, whose parse errors would print it. The ignore
// files the engine's client reads from the context are held to the
// same rule.
func readBuildFiles(a *addon.Addon, dockerfile string) ([]byte, error) {
	root, err := os.OpenRoot(a.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: opening the addon directory: %w", a.File, err)
	}
	defer root.Close()
	outside := func(field, name string, err error) error {
		return fmt.Errorf("%s: %s: %q leads outside the addon's directory (a symlink?); berth builds only from files inside it: %w", a.File, field, name, err)
	}
	for _, name := range buildIgnoreFiles {
		if _, err := root.Lstat(name); err != nil {
			continue
		}
		if _, err := root.Stat(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, outside("build context", name, err)
		}
	}
	name := filepath.FromSlash(dockerfile)
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: runner.docker.build: %q is not a file in the addon, and runner.docker.image is not set", a.File, dockerfile)
	}
	if err != nil {
		return nil, outside("runner.docker.build", dockerfile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: runner.docker.build: %q is not a file in the addon, and runner.docker.image is not set", a.File, dockerfile)
	}
	content, err := io.ReadAll(io.LimitReader(f, maxDockerfile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: runner.docker.build: reading %q: %w", a.File, dockerfile, err)
	}
	if len(content) > maxDockerfile {
		return nil, fmt.Errorf("%s: runner.docker.build: %q is larger than %d bytes", a.File, dockerfile, maxDockerfile)
	}
	return content, nil
}

// stream runs an engine command whose stdout and stderr are progress
// (build, pull) and returns the last lines of both.
func (r *Runner) stream(ctx context.Context, args []string, stdin io.Reader, progress io.Writer) ([]string, error) {
	tail := &lineTail{max: buildTailLines}
	// stdout and stderr are copied by two goroutines: serialise them.
	w := &lockedWriter{w: io.MultiWriter(tail, progress)}
	p, err := r.eng.Start(ctx, args, engine.StartOpts{Stdin: stdin, Stdout: w, Stderr: w})
	if err != nil {
		return nil, err
	}
	err = p.Wait()
	return tail.lines(), err
}

// Run implements runner.Runner: one container per run, removed
// afterwards whatever happened.
func (r *Runner) Run(ctx context.Context, p runner.Prepared, inv runner.Invocation) (runner.Exit, error) {
	a := inv.Addon
	if p.Image == "" {
		return runner.Exit{}, fmt.Errorf("%s: docker runner: nothing prepared (no image)", a.ID())
	}
	name := ContainerName(a.Meta.Name, a.Meta.Version)
	log := inv.Logger
	if log == nil {
		log = r.logger()
	}
	log = log.With("addon", a.ID(), "run", inv.RunID, "runner", addon.RunnerDocker, "container", name)

	pure := a.Pure()
	network := r.cfg.Network
	if pure {
		network = "none"
	}
	user := r.cfg.user()
	owner, iu, err := r.dirOwner(ctx, p.Image, user)
	if err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	if err := shareDirs(owner, inv.WorkDir, inv.OutputDir, inv.CacheDir); err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	if uid, _, _ := strings.Cut(owner, ":"); os.Geteuid() != 0 && uid != "" && uid != strconv.Itoa(os.Getuid()) {
		if err := openDirs(inv.WorkDir, inv.OutputDir, inv.CacheDir); err != nil {
			return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
		}
	}
	r.sweepOnce.Do(func() { r.sweep(log) })
	// A private directory for the client: its working directory (podman's
	// conmon drops files there) and the seccomp profile. It is locked
	// while the run lasts; should berth die, the next one removes it.
	cd, err := leftover.Make(ClientDirPrefix)
	if err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	defer cd.Remove()
	clientDir := cd.Path
	if err := os.WriteFile(filepath.Join(clientDir, "container"), []byte(name), 0o600); err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	env := containerEnv(inv)
	if iu.Name != "" {
		// The engine sets HOME from the image's passwd but not USER or
		// LOGNAME, which scripts and getpass read; the operator's win.
		env = runner.DefaultEnv(env, "USER="+iu.Name, "LOGNAME="+iu.Name)
	}
	var home string
	if r.cfg.ReadOnlyRoot && iu.Home != "" && iu.Home != "/" {
		// A read-only root leaves the image user's HOME unwritable: it
		// gets a tmpfs of its own, owned by that user.
		// podman refuses uid=/gid= and chowns to the user with U.
		home = iu.Home + ":uid=" + strconv.Itoa(iu.UID) + ",gid=" + strconv.Itoa(iu.GID) + ",mode=0700"
		if r.eng.Flavor() == "podman" {
			home = iu.Home + ":U,mode=0700"
		}
	}
	// The operator's variables, which may be secrets, reach the client
	// through a file that lives only in memory (fd 3): nothing on disk
	// for a killed berth to leave behind.
	content, err := envFileContent(inv.Env, env)
	if err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	var extra []*os.File
	envPath := ""
	if len(content) > 0 {
		f, err := envFile(content)
		if err != nil {
			return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
		}
		defer f.Close()
		extra, envPath = []*os.File{f}, "/dev/fd/3"
	}

	var seccompFile string
	if prof, err := r.seccompProfile(); err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	} else if prof != nil {
		seccompFile = filepath.Join(clientDir, "seccomp.json")
		if err := os.WriteFile(seccompFile, prof, 0o600); err != nil {
			return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
		}
	}

	var deadline time.Time
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Add(inv.KillGrace + time.Minute)
	}
	args, err := RunArgs(RunSpec{
		Name: name, Image: p.Image,
		RunID: inv.RunID, Addon: a.Meta.Name, Version: a.Meta.Version,
		Deadline: deadline,
		Network:  network, User: user,
		CapDropAll: r.cfg.CapDropAll, NoNewPrivileges: r.cfg.NoNewPrivileges, ReadOnlyRoot: r.cfg.ReadOnlyRoot, HomeTmpfs: home,
		SeccompProfile: seccompFile,
		Limits:         r.cfg.limitsFor(a.Meta.Name),
		WorkDir:        r.cfg.DaemonPath(inv.WorkDir),
		OutputDir:      r.cfg.DaemonPath(inv.OutputDir),
		CacheDir:       r.cfg.DaemonPath(inv.CacheDir),
		Env:            env, EnvFile: envPath,
		Args: runner.Args(a, ""),
	})
	if err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}

	// The client dies with berth; the container would not.
	reap, err := r.startReaper(name)
	if err != nil {
		return runner.Exit{}, fmt.Errorf("%s: %w", a.ID(), err)
	}
	defer reap.stop() // last: after the container is removed below
	log.Debug("starting container", "image", p.Image, "network", network)
	// A stopped init would hold the container until the timeout: the
	// watch cuts the run short (runCtx's cause says why).
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	watchCtx, stopWatch := context.WithCancel(runCtx)
	go r.watchInit(watchCtx, name, stopRun, log)
	res, runErr := proc.Run(runCtx, proc.Spec{
		Path: r.eng.Binary,
		Args: r.eng.Args(args...),
		Dir:  clientDir,
		// The CLI's environment, not the addon's: DOCKER_HOST, HOME
		// (client config) and XDG_RUNTIME_DIR matter to it. The addon
		// gets only --env and --env-file.
		Env:        os.Environ(),
		ExtraFiles: extra,
		StdoutCap:  inv.StdoutCap,
		KillGrace:  inv.KillGrace,
		Marker:     name,
		OnStdout:   func(l string) { log.Debug("stdout", "line", l) },
		OnStderr: func(l string) {
			log.Debug("stderr", "line", l)
			if inv.Stderr != nil {
				fmt.Fprintf(inv.Stderr, "[%s] %s\n", a.Meta.Name, l)
			}
		},
	})
	stopWatch()
	if runErr != nil && errors.Is(context.Cause(runCtx), ErrInitStopped) {
		runErr = ErrInitStopped
	}
	// From here on the container must go, on a context of its own: ctx
	// may be the very thing that was cancelled.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// Runs after the container is removed (defers run last first).
	defer r.handBack(cctx, p.Image, owner, log, inv.WorkDir, inv.OutputDir, inv.CacheDir)
	exit := runner.Exit{Code: res.ExitCode, Stdout: res.Stdout, StderrTail: res.StderrTail, Isolated: pure}
	if runErr != nil {
		r.kill(cctx, name, log)
		return exit, fmt.Errorf("%s: container %s: %w", a.ID(), name, runErr)
	}
	defer r.remove(cctx, name, log)

	if res.ExitCode == 0 {
		return exit, nil
	}
	// A non-zero status may be the addon's, the OOM killer's, or the
	// CLI's way (125-127) of saying the container never started: ask the
	// engine. Failures are rare enough to afford the extra command.
	st, err := r.inspectState(cctx, name)
	if err != nil || st.StartedAt.IsZero() {
		// Perhaps the image went (docker image prune): ask again next time.
		r.forgetImage(p.Image)
		return exit, startError(r.eng.Binary, a.ID(), name, res.StderrTail)
	}
	// dockerd records the OOM kill from a cgroup event that can arrive
	// after the exit, later still on a busy machine: a SIGKILLed
	// container is asked again for up to oomGrace.
	wait := 20 * time.Millisecond
	for deadline := time.Now().Add(oomGrace); !st.OOMKilled && res.ExitCode == 137 && time.Now().Before(deadline); {
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
		if again, err := r.inspectState(cctx, name); err == nil {
			st = again
		}
	}
	exit.OutOfMemory = st.OOMKilled
	if !st.OOMKilled && res.ExitCode == 137 {
		// conmon 2.1 on cgroup v1 writes its OOM marker into its working
		// directory (the client's) instead of where podman looks for it,
		// so podman inspect says false: read the marker ourselves.
		if _, err := os.Stat(filepath.Join(clientDir, "oom")); err == nil {
			exit.OutOfMemory = true
		}
	}
	if exit.OutOfMemory {
		log.Warn("container killed for its memory limit", "memory", r.cfg.limitsFor(a.Meta.Name).Memory)
	}
	return exit, nil
}

// oomGrace is how long berth waits for the engine to mark a SIGKILLed
// container as killed for its memory (only such runs wait).
const oomGrace = 2 * time.Second

// startError explains a container that never started, with the fix for
// the common host-path case.
func startError(bin, id, name string, stderr []string) error {
	msg := strings.Join(stderr, "; ")
	hint := ""
	switch {
	case strings.Contains(msg, "bind source path does not exist") || strings.Contains(msg, "statfs"):
		hint = "; the engine daemon cannot see berth's working directories: when berth runs in a container, set docker.path-map in berth.yaml and check with `berth doctor`"
	case strings.Contains(msg, "error setting rlimit"):
		hint = "; podman may not set its default rlimits here: write default_ulimits = [] under [containers] in /etc/containers/containers.conf"
	case strings.Contains(msg, "hybrid"):
		hint = "; this OCI runtime refuses hybrid cgroups: set docker.global-args: [--runtime, runc]"
	}
	return fmt.Errorf("%s: container %s did not start, or %s lost it: %s%s", id, name, bin, msg, hint)
}

type containerState struct {
	OOMKilled bool
	StartedAt time.Time
	Error     string
}

func (r *Runner) inspectState(ctx context.Context, name string) (containerState, error) {
	out, err := r.eng.Run(ctx, []string{"container", "inspect", "--format", "{{json .State}}", name}, engine.RunOpts{})
	if err != nil {
		return containerState{}, err
	}
	var st containerState
	if err := json.Unmarshal(bytes.TrimSpace(out), &st); err != nil {
		return containerState{}, fmt.Errorf("decoding the state of %s: %w", name, err)
	}
	return st, nil
}

// kill stops a container whose run was cut short, then removes it.
func (r *Runner) kill(ctx context.Context, name string, log *slog.Logger) {
	if err := r.eng.KillContainer(ctx, name, "KILL"); err != nil && !errors.Is(err, engine.ErrNotFound) {
		log.Debug("kill", "err", err)
	}
	r.remove(ctx, name, log)
	// A CLI killed while the daemon was still creating the container can
	// leave it to appear after the first removal: look once more.
	time.Sleep(200 * time.Millisecond)
	r.remove(ctx, name, log)
}

func (r *Runner) remove(ctx context.Context, name string, log *slog.Logger) {
	if err := r.eng.RemoveContainer(ctx, name, true); err != nil {
		log.Warn("removing container", "err", err)
	}
}

// containerEnv is the contract environment as the container sees it:
// paths under /mnt, ADDON_DIR and TMPDIR relative to WORK (as Docspell),
// locale from berth but not PATH, which is the image's business.
func containerEnv(inv runner.Invocation) []string {
	view := inv
	view.Env = nil
	view.PathEnv = nil
	for _, kv := range inv.PathEnv {
		if !strings.HasPrefix(kv, "PATH=") {
			view.PathEnv = append(view.PathEnv, kv)
		}
	}
	return runner.ContractEnv(view, runner.Paths{Work: MountWork, Output: MountOutput, Cache: MountCache, Relative: true})
}

// ClientDirPrefix starts the name of each run's client directory under
// os.TempDir().
const ClientDirPrefix = "berth-docker-"

// sweep removes the client directories of berth processes that died
// mid-run (older berths kept the env file with the operator's secrets
// there).
func (r *Runner) sweep(log *slog.Logger) {
	removed, err := leftover.Sweep(ClientDirPrefix, time.Minute, nil)
	if len(removed) > 0 {
		log.Info("removed the client directories of runs whose berth died", "dirs", removed)
	}
	if err != nil {
		log.Warn("removing the client directories of runs whose berth died", "err", err)
	}
}

// envFileContent is the --env-file content of the operator's variables,
// which may hold secrets, leaving out those the contract sets; empty
// when there is nothing to pass.
func envFileContent(vars map[string]string, contract []string) ([]byte, error) {
	taken := map[string]bool{}
	for _, kv := range contract {
		k, _, _ := strings.Cut(kv, "=")
		taken[k] = true
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if !taken[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := vars[k]
		if k == "" || strings.ContainsAny(k, "= \t\n#") {
			return nil, fmt.Errorf("environment variable %q: the name cannot be passed to a container", k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("environment variable %s: a value with a line break cannot be passed to a container", k)
		}
		b.WriteString(k + "=" + v + "\n")
	}
	return []byte(b.String()), nil
}

// shareDirs hands the run's directories to the container user when berth
// runs as root and the containers run as another numeric uid, so the
// addon can write its output and the files end up owned by that user.
// Without root, the directories must already be writable by the user.
func shareDirs(user string, dirs ...string) error {
	if os.Geteuid() != 0 || user == "" {
		return nil
	}
	us, gs, _ := strings.Cut(user, ":")
	uid, err := strconv.Atoi(us)
	if err != nil || uid == 0 {
		return nil
	}
	gid := -1
	if gs != "" {
		if gid, err = strconv.Atoi(gs); err != nil {
			gid = -1
		}
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		// A running addon (this run's or, through a shared CACHE_DIR,
		// another's) may swap a directory for a link while berth walks:
		// the walk is descriptor-relative and follows no link.
		if err := beneath.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("giving %s to the container user %s: %w", d, user, err)
		}
	}
	return nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineTail keeps the last max lines written to it.
type lineTail struct {
	mu      sync.Mutex
	max     int
	partial []byte
	buf     []string
}

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(string(bytes.TrimRight(t.partial[:i], "\r")))
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

func (t *lineTail) add(s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	if len(t.buf) == t.max {
		t.buf = append(t.buf[:0], t.buf[1:]...)
	}
	t.buf = append(t.buf, s)
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.buf)
	if s := strings.TrimSpace(string(t.partial)); s != "" {
		out = append(out, s)
		if len(out) > t.max {
			out = out[1:]
		}
	}
	return out
}

// RemoveLeftovers removes what a berth process that died mid-run (crash,
// SIGKILL) left behind, since Run removes its own containers itself:
// addon containers that exited more than minAge ago, and containers still
// running after the deadline of their run's time limit (LabelDeadline,
// with a minute's margin). Other running containers are left alone, as
// are recently exited ones, which another berth on the same daemon may
// still be inspecting. It returns the names removed. The
// daemon calls it at start; minAge of a minute is plenty.
func (r *Runner) RemoveLeftovers(ctx context.Context, minAge time.Duration) ([]string, error) {
	out, err := r.eng.Run(ctx, []string{"ps", "-a",
		"--filter", "label=" + LabelRunner + "=docker",
		"--format", "{{.Names}}"}, engine.RunOpts{})
	if err != nil {
		return nil, fmt.Errorf("listing berth containers: %w", err)
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return nil, nil
	}
	out, err = r.eng.Run(ctx, append([]string{"container", "inspect", "--format",
		"{{.Name}}\t{{.State.Status}}\t{{.State.FinishedAt}}\t{{index .Config.Labels \"" + LabelDeadline + "\"}}"}, names...), engine.RunOpts{})
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("inspecting berth containers: %w", err)
	}
	var removed []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) < 3 {
			continue
		}
		name, status, finished := strings.TrimPrefix(f[0], "/"), f[1], f[2]
		switch status {
		case "exited", "dead":
			// A berth that died before removing its container.
			at, err := parseEngineTime(finished)
			if err != nil || time.Since(at) < minAge {
				continue
			}
		case "running", "created", "paused":
			// Still running past its run's time limit: the berth that
			// would have stopped it is gone. Without a deadline label
			// (older berth, or no time limit) it is left alone.
			if len(f) < 4 {
				continue
			}
			deadline, err := time.Parse(time.RFC3339, strings.TrimSpace(f[3]))
			if err != nil || time.Now().Before(deadline) {
				continue
			}
		default:
			continue
		}
		if err := r.eng.RemoveContainer(ctx, name, true); err != nil {
			return removed, fmt.Errorf("removing %s: %w", name, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// parseEngineTime reads a time as docker (RFC 3339) or podman (Go's
// time.Time.String) prints it in inspect templates.
func parseEngineTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// podman: "2026-11-25 13:08:39.489854733 +0000 UTC"
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	return time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", s)
}
