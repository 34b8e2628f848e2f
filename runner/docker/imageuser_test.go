package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner/docker"
)

// userImageDockerfile is a published addon's usual shape: an unprivileged
// USER with a HOME of its own (as swiss-qr-addon's or any image built with
// `useradd`), the entrypoint writing to HOME like a JVM or Python cache
// does.
const userImageDockerfile = `FROM ` + enginetest.BusyboxRef + `
RUN echo 'appuser:x:1234:1234::/home/appuser:/bin/sh' >> /etc/passwd && echo 'appuser:x:1234:' >> /etc/group && mkdir -p /home/appuser && chown 1234:1234 /home/appuser
COPY run.sh /addon/run.sh
USER appuser
ENTRYPOINT ["/bin/sh", "/addon/run.sh"]
`

const userImageScript = `set -e
out="$OUTPUT_DIR"
id -u > "$out/uid"
echo "$HOME" > "$out/home"
echo "${USER:-unset} ${LOGNAME:-unset}" > "$out/user"
mkdir -p "$HOME/.cache/tool" && echo cached > "$HOME/.cache/tool/x" && echo ok > "$out/home-writable"
echo x > /tmp/x && echo ok > "$out/tmp-writable"
echo x > "$TMPDIR/x" && echo ok > "$out/tmpdir-writable"
n=$(cat "$CACHE_DIR/n" 2>/dev/null || echo 0); echo $((n+1)) > "$CACHE_DIR/n"
echo '{}'
`

// Docspell runs an image as its own USER (DockerRunner.scala:51-62 passes
// no --user): an image with USER appuser must write its HOME, /tmp,
// TMPDIR, OUTPUT_DIR and CACHE_DIR under berth's defaults.
func TestAnImageWithUSERWritesItsHomeUnderTheDefaults(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			c := eng.require(t)
			enginetest.BusyboxImage(t, c)
			e := env{name: eng.name, c: c}
			a := e.dockerfileAddon(t, pure("appuser-"+nonce()), userImageScript, map[string]string{"Dockerfile": userImageDockerfile})
			for _, rc := range []struct {
				name string
				edit func(*docker.Config)
			}{
				{"with the default configuration", nil},
				// Issue 11: HOME stays writable when the operator turns
				// the read-only root on (a tmpfs owned by the image's user).
				{"with read-only-root", func(c *docker.Config) { c.ReadOnlyRoot = true }},
			} {
				t.Run(rc.name, func(t *testing.T) {
					r := e.runner(t, rc.edit)
					ex := e.executor(t, r)
					for run := 1; run <= 2; run++ {
						outDir := filepath.Join(t.TempDir(), "out")
						res := e.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir, CacheKey: "appuser"})
						if res.Kind != executor.Success {
							t.Fatalf("run %d: result %s: %s %q", run, res.Kind, res.Error, res.StderrTail)
						}
						want := map[string]string{"uid": "1234", "home": "/home/appuser", "home-writable": "ok", "tmp-writable": "ok", "tmpdir-writable": "ok", "user": "appuser appuser"}
						for f, w := range want {
							got, _ := os.ReadFile(filepath.Join(outDir, f))
							if strings.TrimSpace(string(got)) != w {
								t.Errorf("run %d: %s = %q, want %q", run, f, strings.TrimSpace(string(got)), w)
							}
						}
					}
					n, err := os.ReadFile(filepath.Join(ex.CacheRoot, "appuser", "n"))
					if err != nil || strings.TrimSpace(string(n)) != "2" {
						t.Errorf("CACHE_DIR/n = %q, %v: the second run could not update the first run's cache", n, err)
					}
					if os.Geteuid() == 0 {
						fi, err := os.Stat(filepath.Join(ex.CacheRoot, "appuser", "n"))
						if err == nil && fi.Sys().(*syscall.Stat_t).Uid != 1234 && eng.name == "docker" {
							t.Errorf("the cache file belongs to uid %d, want the image's user 1234", fi.Sys().(*syscall.Stat_t).Uid)
						}
					}
				})
			}
		})
	}
}
