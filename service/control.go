package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The control socket (STATE_DIR/control.sock) takes one JSON request per
// connection and answers one JSON response:
//
//	{"op":"restart","name":"app"}  ->  {"ok":true}
//	{"op":"down"}                  ->  {"ok":true}   (the supervisor then stops everything)
type request struct {
	Op   string `json:"op"`
	Name string `json:"name,omitempty"`
}

type response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (s *Supervisor) serveControl(requestStop func()) (net.Listener, error) {
	path := filepath.Join(s.cfg.StateDir, controlSock)
	os.Remove(path) // we hold the lock: a leftover socket is stale
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Whoever may connect may stop every container: berth's user only,
	// whatever the umask.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				var req request
				resp := response{OK: true}
				if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
					resp = response{Error: "bad request: " + err.Error()}
				} else {
					switch req.Op {
					case "restart":
						if err := s.Restart(req.Name); err != nil {
							resp = response{Error: err.Error()}
						}
					case "down":
						requestStop()
					default:
						resp = response{Error: "unknown op " + req.Op}
					}
				}
				json.NewEncoder(conn).Encode(resp)
			}()
		}
	}()
	return l, nil
}

// ErrNotRunning means no supervisor answers on the state directory.
var ErrNotRunning = errors.New("no `berth services up` is running for this state directory")

// Control sends op (with name) to the supervisor owning stateDir.
func Control(ctx context.Context, stateDir, op, name string) error {
	if !Locked(stateDir) {
		return fmt.Errorf("%s: %w", stateDir, ErrNotRunning)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(stateDir, controlSock))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(request{Op: op, Name: name}); err != nil {
		return err
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return fmt.Errorf("reading control response: %w", err)
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	return nil
}

// Down asks the supervisor of stateDir to stop everything and waits until
// it has (its lock is released) or ctx ends. Then any container still
// labelled with project is stopped and removed, so down also cleans up
// after a supervisor that was killed.
func Down(ctx context.Context, stateDir string, cleanup func(context.Context) error) error {
	if Locked(stateDir) {
		if err := Control(ctx, stateDir, "down", ""); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		for Locked(stateDir) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the supervisor to stop: %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if cleanup != nil {
		return cleanup(ctx)
	}
	return nil
}
