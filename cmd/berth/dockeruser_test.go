package main_test

import (
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

	"github.com/berth-dev/berth/engine/enginetest"
)

// dockerTestUser is a non-root user in the docker group, as the packaged
// berth's service user is when it runs docker addons
// (.ci/sandbox-setup.sh creates it).
const dockerTestUser = "berth-docker-test"

// A non-root berth running a docker addon as the image's root: what the
// container leaves in WORK, OUTPUT_DIR and CACHE_DIR belongs to root,
// and a private directory (a gnupg home, say) is unreadable to berth.
// berth must still check the output, empty or keep the cache and remove
// WORK, and the addon's next run must work: the files are handed back to
// berth's user after the container ends (runner/docker/handback.go).
func TestANonRootBerthGetsBackWhatADockerAddonsRootLeft(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running berth as another user needs root")
	}
	eng := enginetest.RequireDocker(t)
	img := enginetest.BusyboxImage(t, eng)
	cred, env, err := userCred(dockerTestUser)
	if err != nil {
		msg := fmt.Sprintf("%v (.ci/sandbox-setup.sh creates it)", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	g, err := user.LookupGroup("docker")
	if err != nil {
		t.Skipf("no docker group: %v", err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	cred.Groups = []uint32{uint32(gid)}
	home := strings.TrimPrefix(env[0], "HOME=")
	dir := userTempDir(t, cred, home)()
	addonDir := filepath.Join(dir, "addon")
	files := map[string]string{
		"docspell-addon.yaml": "meta: {name: root-leaves, version: \"1.0.0\"}\ntriggers: [existing-item]\nrunner: {docker: {enable: true}}\noptions: {networking: false, collectOutput: true}\n",
		"Dockerfile":          "FROM " + img + "\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n",
		// The second run finds the first one's cache.
		"run.sh": `id -u >&2
ls -la "$CACHE_DIR/.gnupg" >&2 || true
for d in "$CACHE_DIR/.gnupg" "$OUTPUT_DIR/private" "$TMPDIR/private" private; do
  mkdir -p "$d" && echo secret > "$d/key" && chmod 700 "$d" && chmod 600 "$d/key"
done
echo '{}'
`,
	}
	if err := os.Mkdir(addonDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(addonDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, dir, cred)
	work, cache := filepath.Join(dir, "work"), filepath.Join(dir, "cache")
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(berthBin, "addon", "run", addonDir, "--runners", "docker")
		cmd.Dir = dir
		cmd.Env = append(env, "PATH="+os.Getenv("PATH"), "BERTH_WORKING_DIR="+work, "BERTH_CACHE_DIR="+cache)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d as %s: %v\n%s", run, dockerTestUser, err, out)
		}
		if !strings.Contains(string(out), "result: success") {
			t.Fatalf("run %d as %s did not succeed:\n%s", run, dockerTestUser, out)
		}
	}
	// Nothing of root's is left where berth keeps things.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != cred.Uid {
			t.Errorf("%s belongs to uid %d, not to %s (%d)", p, st.Uid, dockerTestUser, cred.Uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs, _ := filepath.Glob(filepath.Join(work, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left behind: %v", runs)
	}
}
