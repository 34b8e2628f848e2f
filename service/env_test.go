package service_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// trickyEnv holds values that an env file could mangle: blanks at both
// ends, quotes, shell and systemd metacharacters, '=' and '#', a backslash.
var trickyEnv = map[string]string{
	"PLAIN":   "value",
	"SPACES":  "  two  leading and trailing  ",
	"QUOTES":  `it's "quoted"`,
	"META":    "$HOME ${X} %n `id` $(id) ; | &",
	"EQUALS":  "a=b=c",
	"HASH":    "#not a comment",
	"BACKSL":  `C:\path\n`,
	"UNICODE": "grüße ✓",
	"EMPTY":   "",
}

// containerEnv runs env in a container with args before the image and
// returns the lines for trickyEnv's keys, sorted.
func containerEnv(t *testing.T, eng *engine.Client, img string, args ...string) []string {
	t.Helper()
	full := append(append([]string{"run", "--rm", "--log-driver=none"}, args...), img, "env")
	out, err := eng.Run(context.Background(), full, engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		k, _, _ := strings.Cut(l, "=")
		if _, ok := trickyEnv[k]; ok {
			got = append(got, l)
		}
	}
	sort.Strings(got)
	return got
}

// Issue 18: the env file that replaces -e (in generated units and in up)
// must give the container exactly what -e KEY=VALUE gives, on both engines.
func TestTheEnvFileGivesTheContainerWhatDashEGives(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, "containers: {x: {image: \"{{IMG}}\"}}\n")
			c := &spec.Container{Environment: trickyEnv}
			content, err := spec.EnvFileContent(c)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "x.env")
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			var dashE []string
			for k, v := range trickyEnv {
				dashE = append(dashE, "-e", k+"="+v)
			}
			want := containerEnv(t, eng, s.img(), dashE...)
			got := containerEnv(t, eng, s.img(), "--env-file", file)
			if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(trickyEnv) {
				t.Errorf("--env-file gave\n%q\n-e gave\n%q", got, want)
			}
		})
	}
}

// Issue 18 / STYLE (secrets never reach process lists): up passes the
// environment through a 0600 env file in the state directory, not -e
// KEY=VALUE on the engine CLI's argv; the container still sees it.
func TestUpKeepsEnvironmentValuesOutOfTheEngineArgv(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}app:
    image: "{{IMG}}"
    environment: {API_TOKEN: "tok-8c1f9e2a"}
    cmd: ["sh", "-c", "trap 'exit 0' TERM; echo token=$API_TOKEN; while true; do sleep 0.1; done"]
`)
			sup, stop := s.up()
			s.waitState(sup, s.p+"app", service.Running)
			s.wait(sup, s.p+"app", "logging its token", func(service.Status) bool {
				return strings.Contains(s.logOf(s.p+"app"), "token=tok-8c1f9e2a")
			})
			// What ps shows: the command lines of the engine CLI that runs it.
			seen := 0
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				b, err := os.ReadFile(p)
				if err != nil || !strings.Contains(string(b), "--name="+s.p+"app") {
					continue
				}
				seen++
				if strings.Contains(string(b), "tok-8c1f9e2a") {
					t.Errorf("the value is on a command line (%s): %q", p, b)
				}
			}
			if seen == 0 {
				t.Error("found no engine process running the container")
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(s.dir, "state", "env", "*")); len(left) != 0 {
				t.Errorf("env files left in the state directory: %v", left)
			}
		})
	}
}
