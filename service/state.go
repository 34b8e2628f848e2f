package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// State is where a service is in its life.
type State string

// The states a service goes through.
const (
	Waiting  State = "waiting"  // for a dependency to run (After=)
	Starting State = "starting" // pre-start steps and `run`
	Running  State = "running"
	// Unhealthy: the container runs but its health check fails
	// (onUnhealthy none keeps it so; restart and stop act on it).
	Unhealthy State = "unhealthy"
	Stopping  State = "stopping" // dependents stop first, then stop -t and rm -f
	Backoff   State = "backoff"  // exited; restarting at NextTry
	Failed    State = "failed"   // start limit hit; `restart NAME` resets it
	Stopped   State = "stopped"
)

// Status is what berth knows of one service; it is what `status` prints.
type Status struct {
	Name        string    `json:"name"`
	State       State     `json:"state"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason,omitempty"`
	ContainerID string    `json:"containerId,omitempty"`
	Pid         int       `json:"pid,omitempty"`
	// Health is the engine's health status while the container runs:
	// starting, healthy or unhealthy; empty without a health check.
	Health string `json:"health,omitempty"`
	// HealthOutput is the last check's output (one line, cut at 200).
	HealthOutput string    `json:"healthOutput,omitempty"`
	Attempt      int       `json:"attempt,omitempty"`
	NextTry      time.Time `json:"nextTry,omitzero"`
	LastExitCode *int      `json:"lastExitCode,omitempty"`
	LastError    string    `json:"lastError,omitempty"`
	// LastErrorLine is LastError in one short line (see ErrorLine), for
	// the status table.
	LastErrorLine string   `json:"lastErrorLine,omitempty"`
	LastLog       []string `json:"lastLog,omitempty"`
	Restarts      int      `json:"restarts"`
}

// Snapshot is the content of STATE_DIR/state.json.
type Snapshot struct {
	Pid int `json:"pid"`
	// Supervisor is "daemon" when berth serve wrote it (Config.Supervisor).
	Supervisor string    `json:"supervisor,omitempty"`
	Project    string    `json:"project"`
	SpecFile   string    `json:"specFile"`
	Backend    string    `json:"backend"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	// Alive is set by ReadSnapshot: whether the supervisor still holds the lock.
	Alive    bool     `json:"alive"`
	Services []Status `json:"services"`
}

// SupervisorDaemon is Config.Supervisor for the daemon's supervisors.
const SupervisorDaemon = "daemon"

// State directory layout.
const (
	stateFile   = "state.json"
	lockFile    = "lock"
	controlSock = "control.sock"
	logDir      = "logs"
	envDir      = "env"
)

// RootStateDir holds the state directories of root's projects.
const RootStateDir = "/run/berth/services"

// ErrNoRuntimeDir means a user other than root has no default state
// directory: XDG_RUNTIME_DIR, where it would be, is not set.
var ErrNoRuntimeDir = errors.New("XDG_RUNTIME_DIR is not set, so a user other than root has no default state directory")

// DefaultStateDir is project's state directory for the user euid:
// RootStateDir/PROJECT for root, XDG_RUNTIME_DIR/berth/services/PROJECT
// for another user (who may not write to /run), ErrNoRuntimeDir when
// xdgRuntimeDir is empty.
func DefaultStateDir(project string, euid int, xdgRuntimeDir string) (string, error) {
	if euid == 0 {
		return filepath.Join(RootStateDir, project), nil
	}
	if xdgRuntimeDir == "" {
		return "", ErrNoRuntimeDir
	}
	return filepath.Join(xdgRuntimeDir, "berth", "services", project), nil
}

// LogPath is the log file of service name in stateDir.
func LogPath(stateDir, name string) string {
	return filepath.Join(stateDir, logDir, name+".log")
}

// ErrNoState means no supervisor ever ran with this state directory.
var ErrNoState = errors.New("no berth services state here (is `berth services up` running?)")

// ReadSnapshot reads stateDir/state.json and checks whether its
// supervisor is still alive.
func ReadSnapshot(stateDir string) (*Snapshot, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", stateDir, ErrNoState)
	}
	if err != nil {
		return nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", filepath.Join(stateDir, stateFile), err)
	}
	s.Alive = Locked(stateDir)
	return &s, nil
}

func writeSnapshot(stateDir string, s *Snapshot) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(stateDir, stateFile+".tmp")
	// 0600: the last log lines in it may hold secrets, as the logs may.
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(stateDir, stateFile))
}

// Locked reports whether a supervisor holds stateDir's lock.
func Locked(stateDir string) bool {
	f, err := os.Open(filepath.Join(stateDir, lockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// lockStateDir takes the supervisor lock, failing when another holds it.
func lockStateDir(stateDir string) (func(), error) {
	if err := os.MkdirAll(filepath.Join(stateDir, logDir), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, heldError(stateDir)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// HeldError means another supervisor holds a state directory's lock.
type HeldError struct {
	StateDir string
	Pid      int // the holder's pid from state.json, 0 when unknown
	// Daemon: the holder is berth serve (state.json's supervisor).
	Daemon bool
}

func (e *HeldError) Error() string {
	pid := "?"
	if e.Pid != 0 {
		pid = fmt.Sprint(e.Pid)
	}
	if e.Daemon {
		return fmt.Sprintf("the berth daemon (pid %s) supervises this project, with state directory %s: hand it a changed file with `berth services up -d`, or stop the project with `berth services down` before running it in the foreground", pid, e.StateDir)
	}
	return fmt.Sprintf("another supervisor (pid %s) is running with state directory %s", pid, e.StateDir)
}

// heldError describes the holder of stateDir's lock.
func heldError(stateDir string) *HeldError {
	e := &HeldError{StateDir: stateDir}
	if s, err := ReadSnapshot(stateDir); err == nil {
		e.Pid, e.Daemon = s.Pid, s.Supervisor == SupervisorDaemon
	}
	return e
}

// Holder returns a *HeldError naming the supervisor holding stateDir's
// lock, or nil when nobody holds it.
func Holder(stateDir string) *HeldError {
	if !Locked(stateDir) {
		return nil
	}
	return heldError(stateDir)
}
