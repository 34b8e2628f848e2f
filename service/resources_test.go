package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
)

// Issue 14 section 6: limits and process settings reach the engine
// (checked with inspect), and the declared networks and volumes are
// created when missing (Quadlet's .network/.volume units,
// podman-systemd.unit.5.md:1481-1485 and 1655-1659; Compose's top-level
// networks/volumes), while a stranger's network of a declared name is used
// and left alone. One network per container: docker 20.10's run connects
// to one only ("Container cannot be connected to network endpoints").
const limitedStack = `
backend: {{BACKEND}}
networks:
  {{P}}net: {labels: {tier: back}}
  {{P}}foreign: {}
volumes:
  {{P}}vol: {}
containers:
  {{P}}app:
    image: {{IMG}}
    cmd: ` + loop + `
    networks: ["{{P}}net"]
    volumes: ["{{P}}vol:/data"]
    memory: 64m
    cpus: 0.5
    pids: 50
    stopSignal: SIGINT
    init: true
    readOnly: true
  {{P}}guest:
    image: {{IMG}}
    cmd: ` + loop + `
    networks: ["{{P}}foreign"]
`

func TestLimitsReachTheEngineAndDeclaredNetworksAndVolumesAreCreated(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, limitedStack)
			app, net, foreign, vol := s.p+"app", s.p+"net", s.p+"foreign", s.p+"vol"
			ctx := context.Background()
			run := func(args ...string) (string, error) {
				out, err := eng.Run(ctx, args, engine.RunOpts{})
				return strings.TrimSpace(string(out)), err
			}
			t.Cleanup(func() {
				run("network", "rm", net)
				run("network", "rm", foreign)
				run("volume", "rm", "-f", vol)
			})
			if _, err := run("network", "create", foreign); err != nil {
				t.Fatal(err)
			}
			sup, stop := s.up()
			s.waitState(sup, app, service.Running)
			s.waitState(sup, s.p+"guest", service.Running)

			got, err := run("container", "inspect", "--format",
				"{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}}", app)
			if want := "67108864 500000000 50 true true"; err != nil || got != want {
				t.Errorf("memory, cpus, pids, read-only, init = %q, %v; want %q", got, err, want)
			}
			sig, _ := run("container", "inspect", "--format", "{{.Config.StopSignal}}", app)
			if sig != "SIGINT" && sig != "2" { // podman 4.3 shows the number
				t.Errorf("stop signal = %q, want SIGINT", sig)
			}
			if out, err := run("exec", app, "touch", "/x"); err == nil {
				t.Errorf("the root file system is writable: %s", out)
			}
			if out, err := run("exec", app, "touch", "/data/x"); err != nil {
				t.Errorf("the declared volume is not mounted writable: %v %s", err, out)
			}

			labels, err := run("network", "inspect", "--format", `{{index .Labels "berth.project"}} {{index .Labels "berth.resource"}} {{index .Labels "tier"}}`, net)
			if want := s.project + " " + net + " back"; err != nil || labels != want {
				t.Errorf("network %s labels = %q, %v; want %q", net, labels, err, want)
			}
			if labels, err := run("volume", "inspect", "--format", `{{index .Labels "berth.project"}}`, vol); err != nil || labels != s.project {
				t.Errorf("volume %s labels = %q, %v", vol, labels, err)
			}
			if !strings.Contains(s.logOf(s.p+"guest"), "network "+foreign+" exists and was not created by berth") {
				t.Errorf("the log does not say the stranger's network is used as it is:\n%s", s.logOf(s.p+"guest"))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			removed, err := service.RemoveNetworks(ctx, eng, s.project)
			if err != nil || len(removed) != 1 || removed[0] != net {
				t.Errorf("RemoveNetworks = %v, %v; want only %s", removed, err, net)
			}
			if _, err := run("network", "inspect", foreign); err != nil {
				t.Errorf("the stranger's network was removed: %v", err)
			}
			if _, err := run("volume", "inspect", vol); err != nil {
				t.Errorf("the volume (data) was removed: %v", err)
			}
		})
	}
}
