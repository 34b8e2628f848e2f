package nixflake_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/nixflake"
)

// withNixConf points nix at a nix.conf of the test's own (NIX_CONF_DIR
// replaces /etc/nix), holding lines after the settings the test flakes
// need on these machines.
func withNixConf(t *testing.T, lines ...string) {
	t.Helper()
	dir := t.TempDir()
	conf := "sandbox = false\nsubstituters =\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "nix.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIX_CONF_DIR", dir)
}

// The states in which nix answers --version but cannot build. For each,
// the test first proves with a real `nix build` that the state breaks
// builds, then that Available says so with the fix, so the runner is not
// offered and every run does not fail in prepare (issue 10).
func TestAvailableFindsANixThatCannotBuild(t *testing.T) {
	requireNix(t)
	cases := []struct {
		name     string
		rootOnly bool
		conf     []string
		env      map[string]string
		problem  string
		fix      string
	}{
		{
			name:     "a build-users-group that does not exist (Debian's nix-bin as root, no nix-setup-systemd)",
			rootOnly: true,
			conf:     []string{"build-users-group = berth-test-no-such-group"},
			problem:  `group "berth-test-no-such-group" named in nix's build-users-group does not exist`,
			fix:      "groupadd --system berth-test-no-such-group",
		},
		{
			name:     "a build-users-group without members",
			rootOnly: true,
			conf:     []string{"build-users-group = root"},
			problem:  "has no members",
			fix:      "build-users-group =",
		},
		{
			name:    "a daemon store whose socket does not answer",
			conf:    []string{"store = daemon"},
			env:     map[string]string{"NIX_DAEMON_SOCKET_PATH": "/nonexistent/berth-test/daemon-socket"},
			problem: "does not answer",
			fix:     "nix-daemon",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rootOnly && os.Getuid() != 0 {
				t.Skip("nix uses build users only when it runs as root; this test runs as uid", os.Getuid())
			}
			withNixConf(t, c.conf...)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildRun)
			var be *runner.BuildError
			bare := nixflake.New(nixflake.DefaultConfig(), nil)
			if _, err := bare.Prepare(context.Background(), a); !errors.As(err, &be) {
				t.Fatalf("a real nix build in this state did not fail (err = %v): the case proves nothing", err)
			}

			err := nixflake.New(nixflake.DefaultConfig(), nil).Available(context.Background())
			var se *nixflake.SetupError
			if !errors.As(err, &se) || !errors.Is(err, nixflake.ErrCannotBuild) {
				t.Fatalf("Available = %v, want a *SetupError", err)
			}
			if !strings.Contains(se.Problem, c.problem) {
				t.Errorf("problem = %q, want it to say %q", se.Problem, c.problem)
			}
			if !strings.Contains(se.FixHint(), c.fix) {
				t.Errorf("fix = %q, want it to hold %q", se.FixHint(), c.fix)
			}
		})
	}
}

// nix.extraFlags can carry the fix itself (`--option build-users-group
// ""`): the check must read nix's settings with those options applied.
func TestAvailableAppliesTheOptionsOfExtraFlags(t *testing.T) {
	requireNix(t)
	if os.Getuid() != 0 {
		t.Skip("nix uses build users only when it runs as root; this test runs as uid", os.Getuid())
	}
	withNixConf(t, "build-users-group = berth-test-no-such-group")
	cfg := nixflake.DefaultConfig()
	cfg.ExtraFlags = append(cfg.ExtraFlags, "--option", "build-users-group", "")
	r := nixflake.New(cfg, nil)
	if err := r.Available(context.Background()); err != nil {
		t.Fatalf("Available = %v with build-users-group cleared by nix.extraFlags", err)
	}
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildRun)
	if _, err := r.Prepare(context.Background(), a); err != nil {
		t.Fatalf("the build Available promised failed: %v", err)
	}
}

// On a new machine nix's state dir does not exist until nix's first build,
// which creates it: Available must offer the runner then, not say berth
// cannot write it (a clean-clone CI run on a new machine, where doctor ran
// before any nix build, failed so). nix 2.8 picks the local store when the
// state dir is missing and no daemon socket exists (store-api.cc,
// openFromNonUri), and LocalStore creates the dir.
func TestAvailableAcceptsAStateDirNixWillCreate(t *testing.T) {
	requireNix(t)
	withNixConf(t, "build-users-group =")
	state := filepath.Join(t.TempDir(), "new", "var", "nix")
	t.Setenv("NIX_STATE_DIR", state)
	r := nixflake.New(nixflake.DefaultConfig(), nil)
	if err := r.Available(context.Background()); err != nil {
		t.Fatalf("Available = %v with a state dir nix has yet to create", err)
	}
	a := packageFlake(t, pureDescriptor, "echo '{}'\n", buildRun)
	if _, err := r.Prepare(context.Background(), a); err != nil {
		t.Fatalf("the build Available promised failed: %v", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("nix's build did not create its state dir: %v", err)
	}
}

// The machine's own nix (as .ci/sandbox-setup.sh leaves it) builds.
func TestAvailableAcceptsThisMachinesNix(t *testing.T) {
	requireNix(t)
	if err := nixflake.New(nixflake.DefaultConfig(), nil).Available(context.Background()); err != nil {
		t.Fatalf("Available = %v on a machine set up by .ci/sandbox-setup.sh", err)
	}
}
