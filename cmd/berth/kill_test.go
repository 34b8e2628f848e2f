package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
)

// sleeperScript starts a daemon that left the addon's session and
// ignores SIGTERM and SIGHUP, then waits itself: both sleep for a
// number of seconds that carries tok, so they can be found.
func sleeperScript(tok string) string {
	return "#!/bin/sh\n" +
		"( setsid sh -c 'trap \"\" TERM HUP; exec sleep 3000." + tok + "' </dev/null >/dev/null 2>&1 & )\n" +
		"exec sleep 3001." + tok + "\n"
}

// processesWith lists the live processes whose command line holds tok.
func processesWith(tok string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(tok)) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
				continue
			}
		}
		out = append(out, e.Name()+":"+strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " "))
	}
	return out
}

func killToken() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return fmt.Sprintf("%09d", n%1000000000)
}

// TestAKilledBerthLeavesNoAddonBehind kills `berth addon run` with
// SIGKILL while its addon runs, the addon having double-forked a
// daemon out of its session: neither may survive berth (issue 16),
// whatever isolates the addon. With nspawn.sudo berth runs as a user
// that may run systemd-nspawn through sudo (.ci/sandbox-setup.sh makes
// berth-sudo-test): sudo is set-user-ID, so the kernel drops the
// parent-death signal berth gives it, and sudo, nspawn and the
// container outlived berth until the sudo keeper passed its death on.
func TestAKilledBerthLeavesNoAddonBehind(t *testing.T) {
	cases := []struct {
		name    string
		sandbox string
		engine  func(testing.TB) *engine.Client
		config  string
		user    string // run berth as this user (nspawn.sudo)
	}{
		{name: "builtin sandbox", sandbox: "builtin"},
		{name: "nspawn sandbox", sandbox: "nspawn"},
		{name: "nspawn sandbox through nspawn.sudo as a user", sandbox: "nspawn", config: "nspawn:\n  sudo: sudo\n", user: sudoTestUser},
		{name: "docker", engine: enginetest.RequireDocker},
		{name: "podman", engine: enginetest.RequirePodman, config: "docker:\n  binary: podman\n  global-args: [--runtime, " + enginetest.PodmanRuntime() + "]\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := killToken()
			tempDir := t.TempDir
			var cred *syscall.Credential
			var userEnv []string
			if c.user != "" {
				cred, userEnv = requireSudoUser(t, c.user)
				tempDir = userTempDir(t, cred, strings.TrimPrefix(userEnv[0], "HOME="))
			}
			dir := tempDir()
			name := "killed-" + tok
			runner := "trivial:\n    enable: true\n    exec: run.sh\n"
			var eng *engine.Client
			if c.engine != nil {
				eng = c.engine(t)
				enginetest.BusyboxImage(t, eng)
				runner = "docker:\n    enable: true\n"
				write(t, filepath.Join(dir, "Dockerfile"), "FROM "+enginetest.BusyboxRef+"\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n", 0o644)
				t.Cleanup(func() {
					out, _ := eng.Run(context.Background(), []string{"images", "-q", "--filter", "label=berth.addon=" + name}, engine.RunOpts{})
					if ids := strings.Fields(string(out)); len(ids) > 0 {
						_, _ = eng.Run(context.Background(), append([]string{"rmi", "-f"}, ids...), engine.RunOpts{})
					}
				})
			} else if c.sandbox == "nspawn" {
				if _, err := exec.LookPath("systemd-nspawn"); err != nil {
					t.Skip("systemd-nspawn is not installed (CI installs systemd-container)")
				}
			}
			write(t, filepath.Join(dir, "docspell-addon.yaml"), "meta:\n  name: "+name+"\n  version: \"1.0\"\nrunner:\n  "+runner, 0o644)
			write(t, filepath.Join(dir, "run.sh"), sleeperScript(tok), 0o755)
			args := []string{"addon", "run", dir, "--timeout", "10m"}
			if c.sandbox != "" {
				args = append(args, "--sandbox", c.sandbox, "--runners", "trivial")
			} else {
				args = append(args, "--runners", "docker")
			}
			// An operator secret for the addon: it must not stay on disk.
			secret := "s3cret-" + tok + "-" + killToken()
			cfg := filepath.Join(tempDir(), "berth.yaml")
			write(t, cfg, c.config+"env:\n  "+name+":\n    API_TOKEN: "+secret+"\n", 0o644)
			args = append(args, "--config", cfg)
			tmp := tempDir()
			cmd := exec.Command(berthBin, args...)
			cmd.Env = append(append(os.Environ(), userEnv...), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"))
			if cred != nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
				chownTree(t, filepath.Dir(tmp), cred)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				for _, p := range processesWith(tok) {
					pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				if eng != nil {
					if ids, _ := eng.ListContainers(context.Background(), "berth.addon="+name); len(ids) > 0 {
						_, _ = eng.Run(context.Background(), append([]string{"rm", "-f"}, ids...), engine.RunOpts{})
					}
				}
			})
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Both sleepers run: the addon is under way.
			deadline := time.Now().Add(2 * time.Minute)
			for len(processesWith(tok)) < 2 {
				select {
				case err := <-exited:
					t.Fatalf("berth ended before its addon ran: %v\n%s", err, stderr.String())
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("the addon's processes never showed up\n%s", stderr.String())
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-exited
			// Whatever was to go is gone within seconds.
			var left []string
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				left = processesWith(tok)
				if eng != nil {
					ids, err := eng.ListContainers(context.Background(), "berth.addon="+name)
					if err != nil {
						t.Fatal(err)
					}
					for _, id := range ids {
						left = append(left, "container "+id)
					}
				}
				if len(left) == 0 {
					break
				}
			}
			if len(left) > 0 {
				t.Errorf("after berth was killed these remain: %v", left)
			}
			// Issue 18: nothing on disk holds the secret, and what the
			// killed berth left of the run goes with the next berth's run.
			if files := filesHolding(os.TempDir(), secret); len(files) > 0 {
				t.Errorf("after berth was killed the secret is on disk in %v", files)
			}
			leftDirs := runDirsOf(tok)
			next := exec.Command(berthBin, args...)
			next.Args[3] = quickAddon(t, tempDir(), c.engine != nil)
			next.Env = cmd.Env
			if cred != nil {
				next.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
				chownTree(t, filepath.Dir(tmp), cred)
			}
			if out, err := next.CombinedOutput(); err != nil {
				t.Fatalf("the next berth's run failed: %v\n%s", err, out)
			}
			for _, d := range leftDirs {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("the next berth left the killed run's %s in place", d)
				}
			}
		})
	}
}

// quickAddon is an addon that ends at once, for the trivial runner or
// (docker) for an image.
func quickAddon(t *testing.T, dir string, docker bool) string {
	runner := "trivial:\n    enable: true\n    exec: run.sh\n"
	if docker {
		runner = "docker:\n    enable: true\n"
		write(t, filepath.Join(dir, "Dockerfile"), "FROM "+enginetest.BusyboxRef+"\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n", 0o644)
	}
	write(t, filepath.Join(dir, "docspell-addon.yaml"), "meta:\n  name: quick\n  version: \"1.0\"\nrunner:\n  "+runner, 0o644)
	write(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho '{}'\n", 0o755)
	return dir
}

// filesHolding lists the files below berth's temporary directories in
// dir whose content holds s.
func filesHolding(dir, s string) []string {
	var out []string
	tops, _ := filepath.Glob(filepath.Join(dir, "berth-*"))
	for _, top := range tops {
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// runDirsOf lists berth's temporary directories of the runs of addon
// killed-tok: those naming its machine or container.
func runDirsOf(tok string) []string {
	var out []string
	tops, _ := filepath.Glob(filepath.Join(os.TempDir(), "berth-*"))
	for _, top := range tops {
		for _, f := range []string{"machine", "container"} {
			if b, err := os.ReadFile(filepath.Join(top, f)); err == nil && bytes.Contains(b, []byte(tok)) {
				out = append(out, top)
			}
		}
	}
	return out
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// sudoTestUser may run systemd-nspawn, and nothing else, through
// passwordless sudo (made by .ci/sandbox-setup.sh).
const sudoTestUser = "berth-sudo-test"

// requireSudoUser returns the credentials and HOME of name, a user that
// may run systemd-nspawn through sudo without a password. It skips
// where no such user was set up, and fails in CI, which sets one up.
func requireSudoUser(t *testing.T, name string) (*syscall.Credential, []string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (.ci/sandbox-setup.sh sets it up)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		t.Skip("running berth as another user needs root")
	}
	cred, env, err := userCred(name)
	if err != nil {
		missing("%v", err)
	}
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		t.Skip("systemd-nspawn is not installed (CI installs systemd-container)")
	}
	if out, err := exec.Command("sudo", "-n", "-l", "-U", name, nspawn).CombinedOutput(); err != nil {
		missing("user %s may not run %s through sudo: %v %s", name, nspawn, err, bytes.TrimSpace(out))
	}
	return cred, env
}

// userCred returns the credentials of the user name and its environment
// (HOME first, USER, LOGNAME), for running berth as that user.
func userCred(name string) (*syscall.Credential, []string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("no user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, []string{"HOME=" + u.HomeDir, "USER=" + name, "LOGNAME=" + name}, nil
}

// userTempDir is t.TempDir for berth run as another user: a directory
// in that user's home (t.TempDir's are root's, mode 0700), outside the
// temporary directory the test searches for secrets.
func userTempDir(t *testing.T, cred *syscall.Credential, home string) func() string {
	base, err := os.MkdirTemp(home, "berth-kill-as-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
	return func() string {
		d, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
}

// chownTree gives everything below dir to cred's user.
func chownTree(t *testing.T, dir string, cred *syscall.Credential) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}
