package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

func TestPlanShowsCreateRecreateRemoveAndUnchanged(t *testing.T) {
	eng := enginetest.RequireDocker(t)
	s := newStack(t, eng, `
backend: docker
containers:
  {{P}}a: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s}
  {{P}}c: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s}
  {{P}}e: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s}
  {{P}}f: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s, dependsOn: ["{{P}}c"]}
`)
	p := s.p
	ctx := context.Background()
	before, err := service.ComputePlan(ctx, eng, s.file, s.project, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range before.Changes {
		if c.Action != service.Create {
			t.Errorf("before up: %s is %s, want create", c.Name, c.Action)
		}
	}
	sup, stop := s.up()
	for _, n := range []string{"a", "c", "e", "f"} {
		s.waitState(sup, p+n, service.Running)
	}
	same, err := service.ComputePlan(ctx, eng, s.file, s.project, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range same.Changes {
		if c.Action != service.Unchanged {
			t.Errorf("same spec while running: %s is %s (%s), want unchanged", c.Name, c.Action, c.Reason)
		}
	}
	changed, err := spec.Parse("", []byte(strings.NewReplacer("{{P}}", p, "{{IMG}}", enginetest.BusyboxRef).Replace(`
backend: docker
containers:
  {{P}}a: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s}
  {{P}}c: {image: "{{IMG}}", cmd: ["sh", "-c", "sleep 1000"]}
  {{P}}d: {image: "{{IMG}}", cmd: `+loop+`}
  {{P}}f: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s, dependsOn: ["{{P}}c"]}
`)))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := service.ComputePlan(ctx, eng, changed, s.project, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range plan.Changes {
		got = append(got, fmt.Sprintf("%s %s", c.Action, strings.TrimPrefix(c.Name, p)))
	}
	want := "unchanged a, recreate c, create d, recreate f, remove e"
	if strings.Join(got, ", ") != want {
		t.Errorf("plan = %s\nwant   %s", strings.Join(got, ", "), want)
	}
	for _, c := range plan.Changes {
		if c.Name == p+"f" && !strings.Contains(c.Reason, "dependency "+p+"c") {
			t.Errorf("f's reason = %q, want it to name its dependency", c.Reason)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestUpAdoptsAnUnchangedRunningContainer(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			testAdopt(t, require(t))
		})
	}
}

func testAdopt(t *testing.T, eng *engine.Client) {
	s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}kept: {image: "{{IMG}}", cmd: `+loop+`, stopTimeout: 2s}
`)
	name := s.p + "kept"
	c := s.file.Containers[name]
	// Start it the way a previous supervisor would have, then detach.
	backend := eng.Flavor()
	args := spec.RunArgs(name, c, spec.RunOptions{Backend: backend, NoJournald: true, Labels: map[string]string{
		service.LabelProject: s.project, service.LabelService: name, service.LabelHash: spec.Hash(backend, name, c)}})
	for i, a := range args {
		if a == "run" {
			args = append(args[:i+1], append([]string{"-d"}, args[i+1:]...)...)
			break
		}
	}
	out, err := eng.Run(context.Background(), args, engineRunOpts())
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(out))[:12]
	info, err := eng.InspectContainer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // so that the adoption is later than the start
	sup, stop := s.up()
	st := s.waitState(sup, name, service.Running)
	if st.ContainerID != id {
		t.Errorf("running container %s, want the adopted %s", st.ContainerID, id)
	}
	// Running since the container started, not since it was adopted
	// (the reviewer: SINCE reset at a daemon restart).
	if !st.Since.Equal(info.StartedAt) {
		t.Errorf("running since %s, want the container's start %s", st.Since, info.StartedAt)
	}
	if p := sup.Plan(); len(p.Changes) != 1 || p.Changes[0].Action != service.Unchanged {
		t.Errorf("plan = %+v", p)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if left := s.leftovers(); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestImageFileAndImageStreamAreLoaded(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			testImageFileAndStream(t, require(t))
		})
	}
}

func testImageFileAndStream(t *testing.T, eng *engine.Client) {
	ctx := context.Background()
	dir := t.TempDir()
	tag, archive := savedImage(t, eng, "imagefile", dir)
	stream := filepath.Join(dir, "stream.sh")
	os.WriteFile(stream, []byte("#!/bin/sh\nexec cat "+archive+"\n"), 0o755)

	for _, tt := range []struct{ name, field, value string }{
		{"an imageFile", "imageFile", archive},
		{"an imageStream", "imageStream", stream},
	} {
		t.Run(tt.name+" is loaded before the run", func(t *testing.T) {
			if ok, _ := eng.ImageExists(ctx, tag); ok {
				eng.Run(ctx, []string{"rmi", tag}, engineRunOpts())
			}
			s := newStack(t, eng, fmt.Sprintf(`
backend: {{BACKEND}}
containers:
  {{P}}loaded: {image: "%s", %s: "%s", pull: never, cmd: `+loop+`, stopTimeout: 2s}
`, tag, tt.field, tt.value))
			sup, stop := s.up()
			s.waitState(sup, s.p+"loaded", service.Running)
			if !strings.Contains(s.logOf(s.p+"loaded"), "loading image") {
				t.Errorf("log does not mention the load:\n%s", s.logOf(s.p+"loaded"))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSelectedAddsDependenciesInStartOrder(t *testing.T) {
	f, err := spec.Parse("", []byte(`
backend: docker
containers:
  db: {image: i}
  cache: {image: i, autoStart: false}
  app: {image: i, dependsOn: [db, cache]}
  tool: {image: i, autoStart: false}
  web: {image: i, dependsOn: [app]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		names []string
		want  string
	}{
		{nil, "[cache db app web]"},
		{[]string{"app"}, "[cache db app]"},
		{[]string{"tool"}, "[tool]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("up %v starts what it needs, dependencies first", tt.names), func(t *testing.T) {
			got, err := service.Selected(f, tt.names)
			if err != nil || fmt.Sprint(got) != tt.want {
				t.Errorf("Selected(%v) = %v, %v; want %s", tt.names, got, err, tt.want)
			}
		})
	}
	t.Run("an unknown name is refused", func(t *testing.T) {
		if _, err := service.Selected(f, []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("err = %v", err)
		}
	})
}

// Issue 14 point 7: a file read at start (here an imageFile nix has not
// built yet, and a registry password that appears at boot) fails only its
// own container, with a state that says which file; once the file is there
// the next attempt starts it.
func TestAFileMissingAtStartFailsOnlyItsContainerUntilItAppears(t *testing.T) {
	for engineName, require := range engines {
		t.Run("on "+engineName, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			ctx := context.Background()
			dir := t.TempDir()
			img := enginetest.BusyboxImage(t, eng)
			tag := fmt.Sprintf("berth-test/later-%s:%d", eng.Flavor(), os.Getpid())
			if _, err := eng.Run(ctx, []string{"tag", img, tag}, engineRunOpts()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Run(context.Background(), []string{"rmi", tag}, engineRunOpts()) })
			archive := filepath.Join(dir, "later.tar")
			secret := filepath.Join(dir, "secrets", "registry")
			s := newStack(t, eng, fmt.Sprintf(`
backend: {{BACKEND}}
containers:
  {{P}}fine: {image: "{{IMG}}", cmd: `+loop+`}
  {{P}}later:
    image: "%s"
    imageFile: "%s"
    pull: never
    cmd: `+loop+`
    restartBackoff: {initial: 300ms, max: 300ms}
    startLimit: {burst: 1000, interval: 1m}
  {{P}}login:
    image: "127.0.0.1:5000/berth-test/not-pushed:1"
    login: {registry: "127.0.0.1:5000", username: berth, passwordFile: "%s"}
    pull: never
    restartBackoff: {initial: 300ms, max: 300ms}
    startLimit: {burst: 1000, interval: 1m}
`, tag, archive, secret))
			sup, stop := s.up()
			s.waitState(sup, s.p+"fine", service.Running)
			st := s.wait(sup, s.p+"later", "failing on its imageFile", func(st service.Status) bool {
				return strings.Contains(st.LastError, "imageFile") && strings.Contains(st.LastError, archive)
			})
			if !strings.Contains(st.LastError, "does not exist") {
				t.Errorf("later's last error %q does not say the file is missing", st.LastError)
			}
			st = s.wait(sup, s.p+"login", "failing on its password file", func(st service.Status) bool {
				return strings.Contains(st.LastError, "login") && strings.Contains(st.LastError, secret)
			})
			if !strings.Contains(st.LastError, "doesn't exist locally and login failed") {
				t.Errorf("login's last error %q lacks NixOS's message", st.LastError)
			}
			// The image is built now (dockerTools' output appears).
			if _, err := eng.Run(ctx, []string{"save", "-o", archive, tag}, engineRunOpts()); err != nil {
				t.Fatal(err)
			}
			if _, err := eng.Run(ctx, []string{"rmi", tag}, engineRunOpts()); err != nil {
				t.Fatal(err)
			}
			s.waitState(sup, s.p+"later", service.Running)
			if st := s.waitState(sup, s.p+"fine", service.Running); st.Restarts != 0 {
				t.Errorf("the fine container was restarted %d times", st.Restarts)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
