package crashtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

// netHost is a network namespace of the test's own with a veth pair to
// the test's namespace: the node in it has the address node, the test
// (and the PostgreSQL relay it offers there) the address host.
type netHost struct {
	name, host, node string
}

// newNetHosts makes n network namespaces, each linked to this one by a
// veth pair on a /30 of its own, removed at cleanup. It skips when
// there is no ip command or no root (CI runs as root and installs
// iproute2: .ci/run).
func newNetHosts(t *testing.T, n int) []netHost {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2) to make network namespaces with")
	}
	if os.Geteuid() != 0 {
		t.Skip("making network namespaces needs root")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	// 10.217.X.0/30 per namespace, X from the tag so that two test runs
	// on one machine (CI beside a developer) do not collide.
	base := int(b[0]) % 200
	var hosts []netHost
	for i := range n {
		h := netHost{
			name: fmt.Sprintf("berth-%s-%d", tag, i),
			host: fmt.Sprintf("10.217.%d.%d", base+i, 1),
			node: fmt.Sprintf("10.217.%d.%d", base+i, 2),
		}
		outer, inner := fmt.Sprintf("bh%s%d", tag, i), fmt.Sprintf("bn%s%d", tag, i)
		run("netns", "add", h.name)
		t.Cleanup(func() {
			_ = exec.Command("ip", "netns", "del", h.name).Run()
			_ = exec.Command("ip", "link", "del", outer).Run()
		})
		run("link", "add", outer, "type", "veth", "peer", "name", inner)
		run("link", "set", inner, "netns", h.name)
		run("addr", "add", h.host+"/30", "dev", outer)
		run("link", "set", outer, "up")
		run("-n", h.name, "addr", "add", h.node+"/30", "dev", inner)
		run("-n", h.name, "link", "set", inner, "up")
		run("-n", h.name, "link", "set", "lo", "up")
		hosts = append(hosts, h)
	}
	return hosts
}

// relay forwards TCP connections to addr (on the host address of a
// namespace's veth) to the test's PostgreSQL on loopback, which listens
// nowhere else: the namespace's node reaches the database over an
// address, as a node on another machine would.
func relay(t *testing.T, addr, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				go func() { defer wg.Done(); io.Copy(c, u); c.(*net.TCPConn).CloseWrite() }()
				wg.Wait()
			}()
		}
	}()
	return ln.Addr().String()
}

// nodeIn prepares node id in network namespace h, on PostgreSQL dbURL
// through a relay on h's host address: its API is h.node:8470, with a
// token (the address is not loopback), and its data dir is its own.
func nodeIn(t *testing.T, h netHost, id, dbURL string, extra ...string) *daemon {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = relay(t, h.host+":0", u.Host)
	d := newDaemon(t, id, u.String(), extra...)
	for i, a := range d.args {
		if a == "--listen" {
			d.args[i+1] = h.node + ":8470"
		}
	}
	d.url = "http://" + h.node + ":8470"
	d.wrap = []string{"ip", "netns", "exec", h.name}
	d.token = "cluster-test-token-" + id + "-0123456789"
	d.env = append(d.env, "BERTH_SERVE_TOKENS="+d.token)
	return d
}

// dataDir is the node's data dir (from its arguments).
func (d *daemon) dataDir() string {
	for i, a := range d.args {
		if a == "--data-dir" {
			return d.args[i+1]
		}
	}
	return ""
}

// file fetches an output file of a run, or fails the test.
func (d *daemon) file(runID, name string) string {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.url+"/v1/runs/"+runID+"/files/"+name, nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("GET %s's file %s of run %s = %d: %s", d.id, name, runID, resp.StatusCode, b)
	}
	return string(b)
}

// Issue 12 section 1: three `berth serve` processes, each in a network
// namespace of its own with its own address and data dir, share nothing
// but a PostgreSQL database they reach over the network. The addon is
// installed on A, which is then killed and its data dir removed; B and C
// run it and each serves the files of the runs the other ran; A, back
// with an empty data dir, serves them all. Then the node holding running
// runs is killed with SIGKILL and the runs end as docs/daemon.md
// (Crashes) promises: pure ones run again, impure ones fail as
// interrupted, none is lost or stuck, no impure one runs twice.
func TestThreeNodesInTheirOwnNetworksShareOnlyPostgreSQL(t *testing.T) {
	db := storetest.Postgres(t)
	hosts := newNetHosts(t, 3)
	a := nodeIn(t, hosts[0], "A", db, "--concurrency", "2")
	b := nodeIn(t, hosts[1], "B", db, "--concurrency", "2")
	c := nodeIn(t, hosts[2], "C", db, "--concurrency", "2")
	nodes := map[string]*daemon{"A": a, "B": b, "C": c}
	for _, d := range []*daemon{a, b, c} {
		d.start()
	}
	files := a.install(fixture("files"))
	pure, impure := a.install(fixture("slow-record")), a.install(fixture("impure-slow-record"))
	a.kill()
	if err := os.RemoveAll(a.dataDir()); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for i := range 6 {
		ids = append(ids, b.runAdhoc(files, fmt.Sprintf("in-%d", i)))
	}
	ran := map[string]int{}
	for i, id := range ids {
		r := b.waitFor(id, "the end", final)
		if r.State != "succeeded" {
			t.Fatalf("run %s of the addon installed on A = %+v", id, r)
		}
		ran[r.Node]++
		other := map[string]*daemon{"B": c, "C": b}[r.Node]
		if other == nil {
			t.Fatalf("run %s ran on %q, want B or C (A is down)", id, r.Node)
		}
		if got := other.file(id, "sub/greeting.txt"); got != fmt.Sprintf("in-%d\n", i) {
			t.Fatalf("%s served %q for run %s that %s ran", other.id, got, id, r.Node)
		}
	}
	t.Logf("runs of the addon installed on A, by node: %v", ran)
	a.start() // an empty data dir: it has only the database
	for i, id := range ids {
		if got := a.file(id, "sub/greeting.txt"); got != fmt.Sprintf("in-%d\n", i) {
			t.Fatalf("A served %q for run %s", got, id)
		}
		if got := a.file(id, "big.bin"); len(got) != 2621440 || !strings.HasPrefix(got, fmt.Sprintf("in-%d\n", i)) {
			t.Fatalf("A served %d bytes of big.bin for run %s, want 2621440", len(got), id)
		}
	}

	// kill -9 of the node holding running runs.
	tallies := t.TempDir()
	var runs []queuedRun
	for i := range 8 {
		q := queuedRun{tally: filepath.Join(tallies, fmt.Sprintf("run-%d", i)), pure: i%2 == 0}
		addonID := impure
		if q.pure {
			addonID = pure
		}
		q.id = []*daemon{a, b, c}[i%3].runAdhoc(addonID, q.tally+" 2")
		runs = append(runs, q)
	}
	// Once every node's two slots are busy (six runs of 2 s running, two
	// waiting), the runs the victim holds are the ones the kill
	// interrupts; the waiting ones start only when a slot frees.
	var victim *daemon
	held := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		running := map[string]string{}
		for _, q := range runs {
			if r := b.get(q.id); r.State == "running" {
				running[q.id] = r.Node
			}
		}
		if len(running) == 6 {
			for id, node := range running {
				if victim == nil {
					victim = nodes[node]
				}
				if node == victim.id {
					held[id] = true
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs running after 30s, want 6 (two on each node)", len(running))
		}
	}
	victim.kill()
	observer := b
	if victim == b {
		observer = c
	}

	var cn struct{ lost, stuck, pureRepeated, impureRepeated, pureInterrupted, impureInterrupted int }
	deadline := time.Now().Add(40 * time.Second)
	for _, q := range runs {
		r, lost, stuck := awaitFinal(t, observer, q.id, deadline)
		if lost {
			cn.lost++
		}
		if stuck {
			cn.stuck++
		}
		data, _ := os.ReadFile(q.tally)
		execs := strings.Count(string(data), "\n")
		switch {
		case q.pure && execs > 1:
			cn.pureRepeated++
		case !q.pure && execs > 1:
			cn.impureRepeated++
			t.Errorf("impure run executed %d times: %+v", execs, r)
		}
		if held[q.id] && q.pure {
			cn.pureInterrupted++
			if r.State != "succeeded" || r.Attempts != 2 || r.Node == victim.id {
				t.Errorf("pure run %s interrupted on %s = %+v; want succeeded on attempt 2 on another node", q.id, victim.id, r)
			}
		}
		if held[q.id] && !q.pure {
			cn.impureInterrupted++
			if r.State != "failed" || !strings.Contains(r.Error, "interrupted") {
				t.Errorf("impure run %s interrupted on %s = %+v; want failed as interrupted", q.id, victim.id, r)
			}
		}
		if !held[q.id] && r.State != "succeeded" {
			t.Errorf("run %s, not on the killed node, = %+v; want succeeded", q.id, r)
		}
		if r.State == "succeeded" {
			if got := observer.file(q.id, "done.txt"); got != "slept 2\n" {
				t.Errorf("%s served done.txt of run %s = %q", observer.id, q.id, got)
			}
		}
	}
	t.Logf("killed %s holding %d running runs: lost %d, repeated pure %d, repeated impure %d, stuck %d (interrupted: %d pure, %d impure)",
		victim.id, len(held), cn.lost, cn.pureRepeated, cn.impureRepeated, cn.stuck, cn.pureInterrupted, cn.impureInterrupted)
	if cn.lost != 0 || cn.stuck != 0 || cn.impureRepeated != 0 || cn.pureRepeated != cn.pureInterrupted || len(held) == 0 {
		t.Fatalf("counts: lost %d, stuck %d, repeated impure %d, repeated pure %d for %d pure interrupted, %d held; want 0, 0, 0, one repeat per interrupted pure run, at least one held",
			cn.lost, cn.stuck, cn.impureRepeated, cn.pureRepeated, cn.pureInterrupted, len(held))
	}
}
