package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNspawnSudoPassesAnAddonsConfiguredVariables runs berth as a user
// with nspawn.sudo and a configured variable for the addon. sudo resets
// the environment (sudoers env_reset), so nspawn's --setenv=NAME, which
// takes the value from nspawn's own environment, found none: the addon
// ran with API_TOKEN empty. berth names the variables to sudo
// (--preserve-env=NAME, allowed by SETENV in the rule); where the rule
// lacks SETENV, the run fails saying so instead of running without them.
func TestNspawnSudoPassesAnAddonsConfiguredVariables(t *testing.T) {
	cases := []struct {
		user, want string
		ok         bool
		// noNewPrivs runs berth with no_new_privs, as the shipped unit's
		// NoNewPrivileges=yes does: sudo cannot become root.
		noNewPrivs bool
	}{
		{user: sudoTestUser, want: "token=[s3cret-for-the-addon]", ok: true},
		{user: "berth-sudo-nosetenv-test", want: "add SETENV to the sudoers rule"},
		{user: sudoTestUser, noNewPrivs: true, want: "berth runs with no_new_privs (systemd's NoNewPrivileges=yes"},
	}
	for _, c := range cases {
		name := c.user
		if c.noNewPrivs {
			name += " with no_new_privs"
		}
		t.Run(name, func(t *testing.T) {
			cred, userEnv := requireSudoUser(t, c.user)
			tempDir := userTempDir(t, cred, strings.TrimPrefix(userEnv[0], "HOME="))
			dir := tempDir()
			write(t, filepath.Join(dir, "docspell-addon.yaml"), "meta:\n  name: tokened\n  version: \"1.0\"\nrunner:\n  trivial:\n    enable: true\n    exec: run.sh\n", 0o644)
			write(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho \"token=[$API_TOKEN]\" >&2\necho '{}'\n", 0o755)
			cfg := filepath.Join(tempDir(), "berth.yaml")
			write(t, cfg, "nspawn:\n  sudo: sudo\nenv:\n  tokened:\n    API_TOKEN: s3cret-for-the-addon\n", 0o644)
			tmp := tempDir()
			chownTree(t, filepath.Dir(tmp), cred)
			cmd := exec.Command(berthBin, "addon", "run", dir, "--sandbox", "nspawn", "--runners", "trivial", "--config", cfg, "-v")
			if c.noNewPrivs {
				setpriv, err := exec.LookPath("setpriv")
				if err != nil {
					t.Skip("setpriv (util-linux) is not installed")
				}
				cmd = exec.Command(setpriv, append([]string{"--no-new-privs", berthBin}, cmd.Args[1:]...)...)
			}
			cmd.Env = append(append(os.Environ(), userEnv...), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"))
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if c.ok && err != nil {
				t.Fatalf("the run failed: %v\n%s", err, out.String())
			}
			if !c.ok && err == nil {
				t.Fatalf("the run succeeded without its variable:\n%s", out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("the output does not say %q:\n%s", c.want, out.String())
			}
		})
	}
}
