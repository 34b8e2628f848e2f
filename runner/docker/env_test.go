package docker

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/runner"
)

func TestContainerEnvIsTheContractAsTheContainerSeesIt(t *testing.T) {
	a := &addon.Addon{Descriptor: addon.Descriptor{Meta: addon.Meta{Name: "hello", Version: "1.0"}}}
	inv := runner.Invocation{
		Addon: a, HasItem: true,
		Env:     map[string]string{"API_TOKEN": "secret"},
		PathEnv: []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"},
	}
	env := containerEnv(inv)
	for _, want := range []string{
		"LANG=C.UTF-8", "ADDON_DIR=addons/hello-1.0", "TMPDIR=temp", "TMP_DIR=temp",
		"OUTPUT_DIR=/mnt/output", "CACHE_DIR=/mnt/cache", "ITEM_DATA_JSON=item/item-data.json",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("%s is missing from %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			t.Errorf("the host PATH reaches the container: %s", kv)
		}
		if strings.Contains(kv, "secret") {
			t.Errorf("an operator variable is in the --env list (argv): %s", kv)
		}
	}
}

func TestOperatorVariablesGoToAnEnvFileThatIsOnlyInMemory(t *testing.T) {
	contract := []string{"ADDON_DIR=addons/x-1", "OUTPUT_DIR=/mnt/output"}
	content, err := envFileContent(map[string]string{
		"B_TOKEN":   "s3cr3t = with spaces",
		"A_URL":     "http://localhost:7880",
		"ADDON_DIR": "must not win",
	}, contract)
	if err != nil {
		t.Fatal(err)
	}
	if want := "A_URL=http://localhost:7880\nB_TOKEN=s3cr3t = with spaces\n"; string(content) != want {
		t.Errorf("env file = %q, want %q", content, want)
	}
	f, err := envFile(content)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// What the client opens: a path that leads to memory, not to disk.
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("the env file is %q (%v), want a memfd", link, err)
	}
	if b, err := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err != nil || string(b) != string(content) {
		t.Errorf("reading it again by path gives %q, %v", b, err)
	}

	if c, err := envFileContent(nil, contract); err != nil || len(c) != 0 {
		t.Errorf("no operator variables: content %q, err %v; want none", c, err)
	}
	_, err = envFileContent(map[string]string{"MULTI": "line one\nline two"}, contract)
	if err == nil || !strings.Contains(err.Error(), "MULTI") || strings.Contains(err.Error(), "line one") {
		t.Errorf("a value with a newline: err = %v, want an error naming the variable but not its value", err)
	}
}

func TestLineTailKeepsTheLastNonEmptyLines(t *testing.T) {
	lt := &lineTail{max: 3}
	for _, chunk := range []string{"one\ntw", "o\n\n  \nthree\r\nfour\nfi", "ve"} {
		lt.Write([]byte(chunk))
	}
	if got := lt.lines(); !slices.Equal(got, []string{"three", "four", "five"}) {
		t.Errorf("lines = %q", got)
	}
}

func TestStartErrorsPrintTheFixForKnownCauses(t *testing.T) {
	cases := map[string]string{
		"docker: Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: /data/work": "docker.path-map",
		"Error: runc create failed: error setting rlimit type 7: operation not permitted":                                         "default_ulimits = []",
		"Error: crun: cgroups in hybrid mode not supported":                                                                       "--runtime, runc",
	}
	for stderr, fix := range cases {
		err := startError("docker", "x-1", "berth-x-1-00000000", []string{stderr})
		if !strings.Contains(err.Error(), fix) || !strings.Contains(err.Error(), "berth-x-1-00000000") {
			t.Errorf("for %q: %v; want the container name and %q", stderr, err, fix)
		}
	}
}
