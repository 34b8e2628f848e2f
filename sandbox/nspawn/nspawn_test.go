package nspawn_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	goldenfile "github.com/berth-dev/berth/internal/golden"
	"github.com/berth-dev/berth/proc"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/runnertest"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/internal/cgroups"
	"github.com/berth-dev/berth/sandbox/nspawn"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// TestMain lets the test binary join cgroups before exec'ing nspawn, as
// cmd/berth does without a berth-sandbox-init beside it.
func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	flag.Parse()
	os.Exit(sandboxtest.RunKeepingMountTable(m))
}

// golden compares the command line, one word per line, with
// testdata/NAME.golden.
func golden(t *testing.T, name string, bin string, args []string) {
	t.Helper()
	goldenfile.Lines(t, filepath.Join("testdata", name+".golden"), append([]string{bin}, args...))
}

func TestCommandLine(t *testing.T) {
	base := nspawn.Invocation{
		Machine: "berth-hello-1.0-0a1b2c3d",
		Root:    "/tmp/berth-nspawn-1/root",
		Work:    "/var/lib/berth/work/run-1", Output: "/var/lib/berth/work/run-1-out", Cache: "/var/cache/berth/hello",
		ReadOnly: []string{"/bin", "/usr/bin", "/nix/store"},
		Masked:   []string{"/proc/keys", "/proc/key-users"},
		Env:      []string{"PATH=/usr/bin:/bin", "ADDON_DIR=addons/hello-1.0", "OUTPUT_DIR=/mnt/output"},
		Program:  "/mnt/work/addons/hello-1.0/run.sh",
		Args:     []string{"--flag", "arguments/user-input"},
	}
	cases := []struct {
		name   string
		cfg    nspawn.Config
		modify func(*nspawn.Invocation)
	}{
		{"pure-as-docspell", nspawn.Config{Binary: "systemd-nspawn"}, func(i *nspawn.Invocation) { i.PrivateNetwork = true }},
		{"pure-without-systemd", nspawn.Config{Binary: "systemd-nspawn"}, func(i *nspawn.Invocation) { i.PrivateNetwork, i.NoRegister = true, true }},
		{"impure-with-sudo-and-extra-args", nspawn.Config{Binary: "/usr/bin/systemd-nspawn", Sudo: "sudo", ExtraArgs: []string{"--drop-capability=all", "--no-new-privileges=yes"}}, func(*nspawn.Invocation) {}},
		// sudo resets the environment: the secret's name goes to it.
		{"sudo-and-a-secret-by-name", nspawn.Config{Binary: "/usr/bin/systemd-nspawn", Sudo: "sudo"}, func(i *nspawn.Invocation) {
			i.PrivateNetwork, i.NoRegister = true, true
			i.Env = append(i.Env, "API_TOKEN", "OTHER_SECRET")
		}},
		{"rlimits-and-a-secret-by-name", nspawn.Config{Binary: "systemd-nspawn"}, func(i *nspawn.Invocation) {
			i.PrivateNetwork, i.NoRegister, i.RlimitData, i.RlimitNproc = true, true, 1<<30, 256
			i.Env = append(i.Env, "API_TOKEN")
		}},
		// systemd as PID 1 and no cgroup of berth's: the payload runs in
		// the scope machined makes, which carries the limits (issue 19).
		{"registered-with-limits", nspawn.Config{Binary: "systemd-nspawn"}, func(i *nspawn.Invocation) {
			i.PrivateNetwork = true
			i.Properties = nspawn.Properties(nspawn.Limits{MemoryBytes: 128 << 20, Pids: 64, CPUs: 1.5})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := base
			inv.ReadOnly = append([]string(nil), base.ReadOnly...)
			c.modify(&inv)
			bin, args := nspawn.CommandLine(c.cfg, inv)
			golden(t, c.name, bin, args)
		})
	}
}

func requireNspawn(t *testing.T) *nspawn.Sandbox {
	t.Helper()
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Skip("systemd-nspawn is not installed (CI installs systemd-container)")
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-nspawn needs root; a berth of another user needs nspawn.sudo, which the tests do not set up")
	}
	sandboxtest.KeepMountTable(t)
	// berth-sandbox-init joins the cgroups before nspawn starts, as for
	// an installed berth.
	sb := nspawn.New(nspawn.Config{
		Limits:   nspawn.Limits{MemoryBytes: sandboxtest.MemoryLimit, Pids: sandboxtest.PidsLimit},
		InitPath: sandboxtest.BuildInit(t, ""),
	})
	if err := sb.Available(context.Background()); err != nil {
		t.Fatalf("nspawn is installed but not usable (CI runs .ci/sandbox-setup.sh): %v", err)
	}
	return sb
}

func TestAdversarialAddonsAreContained(t *testing.T) {
	sb := requireNspawn(t)
	sandboxtest.Adversarial(t, sandboxtest.Options{
		Sandbox:       sb,
		EphemeralRoot: true,
		AfterRun: func(t *testing.T, runID string) {
			left, _ := filepath.Glob(filepath.Join(os.TempDir(), nspawn.TempPrefix(runID)+"*"))
			if left = append(left, cgroups.Leftovers("nspawn-"+runID+"-")...); len(left) > 0 {
				t.Errorf("the container left %v behind", left)
			}
		},
	})
}

func TestTrivialRunnerInNspawnMeetsTheContract(t *testing.T) {
	sb := requireNspawn(t)
	runnertest.Run(t, runnertest.Harness{
		Runner:   trivial.New(sb),
		Isolated: true,
		Package:  sandboxtest.PackageScript,
		Timeout:  3 * time.Second,
	})
}

func TestAvailableExplainsAMissingBinary(t *testing.T) {
	sb := nspawn.New(nspawn.Config{Binary: "/nonexistent/systemd-nspawn"})
	err := sb.Available(context.Background())
	if err == nil || !strings.Contains(err.Error(), "systemd-container") {
		t.Fatalf("Available = %v, want an error naming the package to install", err)
	}
}

func TestOperatorVariablesStayOutOfTheCommandLine(t *testing.T) {
	sb := nspawn.New(nspawn.Config{})
	a := &addon.Addon{}
	a.Meta.Name, a.Meta.Version = "secretive", "1.0"
	inv := runner.Invocation{RunID: "secret-test", Addon: a, WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir(),
		Env: map[string]string{"API_TOKEN": "tok-very-secret"}}
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", "echo $API_TOKEN"}, Env: runner.ContractEnv(inv, sb.View(inv))}
	w, err := sb.Wrap(context.Background(), spec, inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Finish(proc.Result{}) })
	if strings.Contains(strings.Join(w.Spec.Args, " "), "tok-very-secret") {
		t.Fatalf("the secret is on the command line: %q", w.Spec.Args)
	}
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return
	}
	if os.Geteuid() != 0 {
		t.Log("the command line holds no secret; running it needs root (or nspawn.sudo)")
		return
	}
	if err := sb.Available(context.Background()); err != nil {
		t.Fatalf("nspawn is installed but not usable: %v", err)
	}
	res, err := proc.Run(context.Background(), w.Spec)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "tok-very-secret" {
		t.Errorf("the program did not get the variable: %q %v %q", res.Stdout, err, res.StderrTail)
	}
}

// TestAContainerKilledOutrightLeavesNothingInNspawnsStateDir hits the
// output cap, which kills nspawn at once (no SIGTERM first): nspawn then
// cannot remove its own directory under /run/systemd/nspawn/propagate,
// and berth must.
func TestAContainerKilledOutrightLeavesNothingInNspawnsStateDir(t *testing.T) {
	sb := requireNspawn(t)
	a := &addon.Addon{}
	a.Meta.Name, a.Meta.Version = "chatty-killed", "1.0"
	inv := runner.Invocation{RunID: "killed-outright", Addon: a, WorkDir: t.TempDir(), OutputDir: t.TempDir(), CacheDir: t.TempDir()}
	pattern := "/run/systemd/nspawn/*/berth-chatty-killed-1-0-*"
	before, _ := filepath.Glob(pattern)
	spec := proc.Spec{Path: "/bin/sh", Args: []string{"-c", "yes"}, Dir: runner.ContainerPaths.Work,
		Env: []string{"PATH=/usr/bin:/bin"}, StdoutCap: 4096}
	w, err := sb.Wrap(context.Background(), spec, inv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := proc.Run(context.Background(), w.Spec)
	w.Finish(res)
	if !errors.Is(err, proc.ErrOutputTooLarge) {
		t.Fatalf("err = %v, want the output cap (stderr %q)", err, res.StderrTail)
	}
	after, _ := filepath.Glob(pattern)
	if len(after) > len(before) {
		t.Errorf("nspawn's state was left behind: %v (before: %v)", after, before)
	}
}

func TestAvailableRefusesACgroupHelperOthersCouldChange(t *testing.T) {
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Skip("systemd-nspawn is not installed (CI installs systemd-container)")
	}
	if os.Geteuid() != 0 {
		t.Skip("nspawn without sudo needs root")
	}
	helper := filepath.Join(t.TempDir(), "berth-sandbox-init")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(helper, 0o777); err != nil {
		t.Fatal(err)
	}
	sb := nspawn.New(nspawn.Config{InitPath: helper, Limits: nspawn.Limits{Pids: sandboxtest.PidsLimit}})
	err := sb.Available(context.Background())
	if !errors.Is(err, builtin.ErrInitUntrusted) || !strings.Contains(err.Error(), helper) {
		t.Fatalf("Available = %v, want ErrInitUntrusted naming %s", err, helper)
	}
}

func TestDocspellsProgramsRunAsOnDocspell(t *testing.T) {
	sandboxtest.Docspell(t, requireNspawn(t))
}
