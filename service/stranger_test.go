package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// startStranger runs a container named name that berth did not create
// (no berth labels, or labels given) and returns its id.
func startStranger(t *testing.T, s *stack, name string, labels ...string) string {
	t.Helper()
	args := []string{"run", "-d", "--name", name}
	for _, l := range labels {
		args = append(args, "-l", l)
	}
	out, err := s.eng.Run(context.Background(), append(args, s.img(), "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"), engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (s *stack) img() string {
	for _, c := range s.file.Containers {
		return c.Image
	}
	return ""
}

func stillRunning(t *testing.T, eng *engine.Client, name, id string) {
	t.Helper()
	info, err := eng.InspectContainer(context.Background(), name)
	if err != nil || info.ID != id || !info.Running {
		t.Errorf("the stranger %s was touched: inspect = %+v, %v (want id %s, running)", name, info, err, id)
	}
}

// Issue 14 point 4: `up` used to remove and replace a same-name container
// it did not create. Compose refuses; berth now does too, naming the
// container and the way to let berth replace it.
func TestUpLeavesAStrangerAloneAndStartsNothing(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), `
backend: {{BACKEND}}
containers:
  {{P}}db: {image: "{{IMG}}", cmd: `+loop+`}
  {{P}}app: {image: "{{IMG}}", cmd: `+loop+`}
`)
			for _, tc := range []struct {
				what   string
				labels []string
			}{
				{"a container started by hand", nil},
				{"a container of another berth project", []string{service.LabelProject + "=someone-else"}},
			} {
				t.Run(tc.what, func(t *testing.T) {
					id := startStranger(t, s, s.p+"app", tc.labels...)
					defer s.eng.RemoveContainer(context.Background(), s.p+"app", true)
					plan, err := service.ComputePlan(context.Background(), s.eng, s.file, s.project, nil)
					if err != nil {
						t.Fatal(err)
					}
					for _, ch := range plan.Changes {
						if ch.Name == s.p+"app" && ch.Action != service.Conflict {
							t.Errorf("plan for the stranger's name: %s (%s), want conflict", ch.Action, ch.Reason)
						}
					}
					_, stop := s.up()
					err = stop()
					var ce *service.ConflictError
					if !errors.As(err, &ce) || len(ce.Strangers) != 1 || ce.Strangers[0].Name != s.p+"app" {
						t.Fatalf("Run = %v, want a ConflictError naming %s", err, s.p+"app")
					}
					for _, want := range []string{s.p + "app", "--replace", "replace: true"} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error %q does not say %q", err, want)
						}
					}
					stillRunning(t, s.eng, s.p+"app", id)
					if left := s.leftovers(); len(left) != 0 {
						t.Errorf("up started containers despite the conflict: %v", left)
					}
				})
			}
		})
	}
}

func TestReplaceTrueLetsUpReplaceAStranger(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), `
backend: {{BACKEND}}
containers:
  {{P}}app: {image: "{{IMG}}", cmd: `+loop+`, replace: true}
`)
			id := startStranger(t, s, s.p+"app")
			sup, stop := s.up()
			st := s.waitState(sup, s.p+"app", service.Running)
			info, err := s.eng.InspectContainer(context.Background(), s.p+"app")
			if err != nil || info.ID == id || info.Labels[service.LabelProject] != s.project {
				t.Errorf("replace: true left the stranger (id %s) in place: %+v, %v, status %+v", id, info, err, st)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A stranger that takes the name while berth's container is down (here in
// backoff after a crash) is not removed by the next start's pre-start
// either: that start fails and says why.
func TestAStrangerTakingTheNameDuringBackoffIsLeftAlone(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), `
backend: {{BACKEND}}
containers:
  {{P}}app:
    image: "{{IMG}}"
    cmd: ["sh", "-c", "exit 3"]
    restartBackoff: {initial: 3s, max: 3s}
`)
			sup, _ := s.up()
			s.waitState(sup, s.p+"app", service.Backoff)
			id := startStranger(t, s, s.p+"app")
			defer s.eng.RemoveContainer(context.Background(), s.p+"app", true)
			st := s.wait(sup, s.p+"app", "failing on the stranger", func(st service.Status) bool {
				return strings.Contains(st.LastError, "berth leaves it alone")
			})
			if !strings.Contains(st.LastError, "replace: true") {
				t.Errorf("last error %q does not say how to let berth replace it", st.LastError)
			}
			stillRunning(t, s.eng, s.p+"app", id)
		})
	}
}

// Issue 14 point 7: `up` used to ignore podman.user and run the container
// as whoever ran berth. It now refuses, naming the field and the way out.
func TestUpRefusesAPodmanUserItCannotBe(t *testing.T) {
	f, err := spec.Parse("services.yaml", []byte("backend: podman\ncontainers:\n  c: {image: i, podman: {user: nobody}}\n  d: {image: i}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = service.New(service.Config{Spec: f, Engine: engine.New("podman"), StateDir: t.TempDir(), Project: "p"})
	if err == nil {
		t.Fatal("New accepted podman.user nobody for a berth not running as nobody")
	}
	for _, want := range []string{"containers.c.podman.user", "nobody", "generate systemd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "containers.d") {
		t.Errorf("d (podman.user root, the default) was refused too: %v", err)
	}
}
