package proc

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestStoppedSeesAStopSignalAndWatchStoppedReportsIt(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	if s, err := Stopped(pid); err != nil || s {
		t.Fatalf("a sleeping process: Stopped = %v, %v; want false, nil", s, err)
	}

	// Running: the watch ends with its context, reporting nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := WatchStopped(ctx, pid, 20*time.Millisecond); err != nil {
		t.Fatalf("WatchStopped of a running process = %v, want nil", err)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := WatchStopped(context.Background(), pid, 20*time.Millisecond); !errors.Is(err, ErrStopped) {
		t.Fatalf("WatchStopped of a stopped process = %v, want ErrStopped", err)
	}
	if s, err := Stopped(pid); err != nil || !s {
		t.Fatalf("Stopped = %v, %v; want true, nil", s, err)
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)
}

func TestWatchStoppedEndsWhenTheProcessIsGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := WatchStopped(context.Background(), cmd.Process.Pid, 10*time.Millisecond); err != nil {
		t.Fatalf("WatchStopped of a gone process = %v, want nil", err)
	}
}
