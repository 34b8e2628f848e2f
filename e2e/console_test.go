package e2e_test

import (
	"archive/zip"
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
)

// TestTheConsoleInABrowser installs an addon through the page, creates a
// configuration, runs it on an item with a file, follows it to success
// and reads its commands, cancels a long run, re-runs, filters the runs
// list and checks it at phone width (console.spec.mjs). Screenshots go
// to e2e/artifacts/ (ignored by git; CI keeps them).
func TestTheConsoleInABrowser(t *testing.T) {
	chromium := os.Getenv("BERTH_TEST_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("e2e/node_modules lacks playwright-core: .ci/run must run npm ci in e2e/")
		}
		t.Skip("playwright-core is not installed: run npm ci in e2e/")
	}

	const token = "e2e-console-token-0123456789"
	tmp := t.TempDir()
	cfg := config.Default()
	cfg.WorkingDir, cfg.CacheDir, cfg.DataDir = filepath.Join(tmp, "work"), filepath.Join(tmp, "cache"), filepath.Join(tmp, "data")
	cfg.Runners, cfg.Sandbox = []string{"trivial"}, "none"
	cfg.RunTimeout = config.Duration(3 * time.Minute)
	set := settings.Default()
	set.Tokens = []string{token}
	set.PollInterval = settings.Duration(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, set, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	addonZip := filepath.Join(tmp, "tagger.zip")
	writeZip(t, "testdata/tagger", addonZip)
	item := filepath.Join(tmp, "scan.txt")
	os.WriteFile(item, []byte("a scanned invoice\n"), 0o644)
	artifacts, _ := filepath.Abs("artifacts")
	os.MkdirAll(artifacts, 0o755)

	runCtx, stop := context.WithTimeout(context.Background(), 4*time.Minute)
	defer stop()
	cmd := exec.CommandContext(runCtx, node, "console.spec.mjs")
	cmd.Env = append(os.Environ(), "BERTH_URL=http://"+ln.Addr().String(), "BERTH_TOKEN="+token,
		"ADDON_ZIP="+addonZip, "ITEM_FILE="+item, "ARTIFACTS="+artifacts, "CHROMIUM="+chromium)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("console.spec.mjs:\n%s", out.String())
	if err != nil {
		t.Fatalf("the browser test failed: %v (screenshots in %s)", err, artifacts)
	}
}

// writeZip zips dir's files (modes kept) into dst, as a release zip.
func writeZip(t *testing.T, dir, dst string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := zw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
