package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stderrTailSize is how much of a command's stderr an Error keeps.
const stderrTailSize = 4096

// Client runs one engine CLI (docker or podman). The zero value is not
// usable; build one with New.
type Client struct {
	// Binary is "docker", "podman", or a path to either.
	Binary string
	// GlobalArgs go before every subcommand, e.g. podman's
	// ["--runtime", "runc"]. Set them with WithGlobalArgs or WithRuntime.
	GlobalArgs []string
	// Logger receives one debug record per command (args redacted).
	Logger *slog.Logger
	// Env is added to the environment of every command, e.g.
	// DOCKER_CONFIG or REGISTRY_AUTH_FILE to keep credentials apart.
	Env []string
	// StopDelay is how long a started process gets between SIGTERM (on
	// context cancel) and SIGKILL. Default 10s.
	StopDelay time.Duration

	flavorOnce sync.Once
	flavor     string
}

// Option configures a Client.
type Option func(*Client)

// WithGlobalArgs appends arguments placed before every subcommand.
func WithGlobalArgs(args ...string) Option {
	return func(c *Client) { c.GlobalArgs = append(c.GlobalArgs, args...) }
}

// WithRuntime selects the OCI runtime (podman's global --runtime flag, e.g.
// "runc" on hosts with hybrid cgroups where crun refuses to run). For
// docker the runtime is a per-container option, so WithRuntime is ignored
// there: pass "--runtime" in the run arguments instead.
func WithRuntime(runtime string) Option {
	return func(c *Client) {
		if runtime != "" && c.Flavor() == "podman" {
			c.GlobalArgs = append(c.GlobalArgs, "--runtime", runtime)
		}
	}
}

// WithEnv adds environment variables ("KEY=value") to every command.
func WithEnv(kv ...string) Option { return func(c *Client) { c.Env = append(c.Env, kv...) } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.Logger = l } }

// New returns a client for binary ("docker", "podman" or a path).
func New(binary string, opts ...Option) *Client {
	c := &Client{Binary: binary, Logger: slog.New(slog.DiscardHandler), StopDelay: 10 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Flavor is "docker" or "podman": taken from the binary's base name when it
// says so, otherwise from `BINARY version` (podman prints "Podman Engine").
func (c *Client) Flavor() string {
	c.flavorOnce.Do(func() {
		base := filepath.Base(c.Binary)
		switch {
		case strings.Contains(base, "podman"):
			c.flavor = "podman"
		case strings.Contains(base, "docker"):
			c.flavor = "docker"
		default:
			c.flavor = "docker"
			// podman names itself after argv[0] in --version, but `version`
			// prints "Podman Engine" whatever the binary is called.
			out, _ := exec.Command(c.Binary, "version").CombinedOutput()
			if strings.Contains(strings.ToLower(string(out)), "podman") {
				c.flavor = "podman"
			}
		}
	})
	return c.flavor
}

// RunOpts are the optional inputs of Run.
type RunOpts struct {
	// Stdin is fed to the command (e.g. a password, an image archive).
	Stdin io.Reader
	// Stderr, when set, also receives the command's stderr as it is written.
	Stderr io.Writer
}

// Args returns the full argument list (without the binary) that Run would
// execute for args: the global arguments first.
func (c *Client) Args(args ...string) []string {
	full := make([]string, 0, len(c.GlobalArgs)+len(args))
	full = append(full, c.GlobalArgs...)
	return append(full, args...)
}

// Run runs `Binary GlobalArgs... args...` to completion and returns its
// stdout. Cancelling ctx kills the command. A failure is an *Error.
func (c *Client) Run(ctx context.Context, args []string, opt RunOpts) ([]byte, error) {
	full := c.Args(args...)
	cmd := exec.CommandContext(ctx, c.Binary, full...)
	var stdout bytes.Buffer
	tail := &tailBuffer{max: stderrTailSize}
	cmd.Stdout = &stdout
	cmd.Stderr = tail
	if opt.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, opt.Stderr)
	}
	cmd.Stdin = opt.Stdin
	cmd.Env = c.env()
	cmd.WaitDelay = c.stopDelay()
	start := time.Now()
	err := cmd.Run()
	c.Logger.Debug("engine command", "binary", c.Binary, "args", redact(full),
		"duration", time.Since(start), "err", err)
	if err != nil {
		return stdout.Bytes(), c.wrap(ctx, full, err, tail.String())
	}
	return stdout.Bytes(), nil
}

func (c *Client) env() []string {
	if len(c.Env) == 0 {
		return nil // inherit
	}
	return append(os.Environ(), c.Env...)
}

func (c *Client) stopDelay() time.Duration {
	if c.StopDelay <= 0 {
		return 10 * time.Second
	}
	return c.StopDelay
}

// wrap turns an exec error into an *Error with a Kind.
func (c *Client) wrap(ctx context.Context, full []string, err error, stderr string) error {
	e := &Error{Binary: c.Binary, Args: redact(full), ExitCode: -1, Stderr: strings.TrimSpace(stderr), Err: err}
	var ee *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT):
		e.Kind = ErrBinaryMissing
	case ctx.Err() != nil:
		e.Kind = ErrCanceled
		e.Err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	case errors.As(err, &ee):
		e.ExitCode = ee.ExitCode()
		e.Kind = classify(stderr)
	default:
		e.Kind = ErrUnknown
	}
	return e
}

// StartOpts are the inputs of Start.
type StartOpts struct {
	Stdin  io.Reader
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded (a tail is kept for errors either way)
}

// Process is a long-running engine command started by Start, such as
// `docker run` kept in the foreground.
type Process struct {
	c    *Client
	ctx  context.Context
	cmd  *exec.Cmd
	args []string
	tail *tailBuffer
}

// Start starts `Binary GlobalArgs... args...` without waiting. Cancelling
// ctx sends SIGTERM (the docker and podman CLIs forward it to the
// container), then SIGKILL after Client.StopDelay. Callers that must be
// sure a container is gone also stop and remove it by name.
func (c *Client) Start(ctx context.Context, args []string, opt StartOpts) (*Process, error) {
	full := c.Args(args...)
	cmd := exec.CommandContext(ctx, c.Binary, full...)
	tail := &tailBuffer{max: stderrTailSize}
	cmd.Stdin = opt.Stdin
	cmd.Env = c.env()
	cmd.Stdout = opt.Stdout
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	cmd.Stderr = tail
	if opt.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, opt.Stderr)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = c.stopDelay()
	// Its own process group: a Ctrl-C on the terminal goes to the
	// supervisor, which stops containers in order, and not straight to
	// every `docker run`, which would forward it to its container.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Logger.Debug("engine start", "binary", c.Binary, "args", redact(full))
	if err := cmd.Start(); err != nil {
		return nil, c.wrap(ctx, full, err, "")
	}
	return &Process{c: c, ctx: ctx, cmd: cmd, args: full, tail: tail}, nil
}

// Pid is the process id of the engine CLI (not of the container).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the engine CLI process.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// StderrTail returns the last few KiB the process wrote to stderr.
func (p *Process) StderrTail() string { return p.tail.String() }

// Wait waits for the process to exit. A non-zero exit is an *Error whose
// ExitCode is the container's exit status (docker/podman run pass it on).
func (p *Process) Wait() error {
	err := p.cmd.Wait()
	if err == nil {
		return nil
	}
	return p.c.wrap(p.ctx, p.args, err, p.tail.String())
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
