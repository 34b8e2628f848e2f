package nixflake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SetupError says why nix is installed but cannot build here, and the one
// step that fixes it. `berth doctor` prints Fix next to the check.
type SetupError struct {
	Problem string
	Fix     string
}

func (e *SetupError) Error() string { return e.Problem + " (fix: " + e.Fix + ")" }

// FixHint is the command or setting that makes nix build.
func (e *SetupError) FixHint() string { return e.Fix }

// ErrCannotBuild is wrapped by every SetupError.
var ErrCannotBuild = errors.New("nix cannot build on this machine")

func (e *SetupError) Unwrap() error { return ErrCannotBuild }

// buildUsersFix is what Debian's nix-setup-systemd does in its postinst.
const buildUsersFix = "create nix's build users as root: groupadd --system %[1]s && " +
	"for n in $(seq 1 10); do useradd --system --gid %[1]s --groups %[1]s --no-user-group " +
	"--home-dir /var/empty --shell /usr/sbin/nologin %[1]s$n; done " +
	"(Debian's nix-setup-systemd package does the same), or set `build-users-group =` in /etc/nix/nix.conf " +
	"to build as root without build users"

// nixSettings is what checkSetup reads of `nix show-config --json`.
type nixSettings struct {
	BuildUsersGroup string
	Store           string
	StateDir        string
	DaemonSocket    string
}

// showConfig asks nix for the settings it would build with: nix.conf,
// NIX_CONF_DIR, NIX_REMOTE and the --option pairs of nix.extraFlags.
func (r *Runner) showConfig(ctx context.Context, bin string) (nixSettings, error) {
	args := []string{"--extra-experimental-features", "nix-command flakes"}
	args = append(args, optionFlags(r.cfg.ExtraFlags)...)
	args = append(args, "show-config", "--json")
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "flakes") || strings.Contains(msg, "experimental") {
			return nixSettings{}, &SetupError{
				Problem: fmt.Sprintf("%s does not support flakes: %s", bin, msg),
				Fix:     "install nix 2.4 or later (apt-get install nix-bin)",
			}
		}
		return nixSettings{}, fmt.Errorf("%s show-config: %w: %s", bin, err, msg)
	}
	var raw map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nixSettings{}, fmt.Errorf("reading %s show-config --json: %w", bin, err)
	}
	str := func(name string) string {
		var s string
		if v, ok := raw[name]; ok {
			_ = json.Unmarshal(v.Value, &s)
		}
		return s
	}
	s := nixSettings{
		BuildUsersGroup: str("build-users-group"),
		Store:           str("store"),
		StateDir:        os.Getenv("NIX_STATE_DIR"),
		DaemonSocket:    os.Getenv("NIX_DAEMON_SOCKET_PATH"),
	}
	if s.StateDir == "" {
		s.StateDir = "/nix/var/nix"
	}
	if s.DaemonSocket == "" {
		s.DaemonSocket = s.StateDir + "/daemon-socket/socket"
	}
	return s, nil
}

// optionFlags keeps the `--option NAME VALUE` triples of flags, the only
// build flags that also change what show-config reports.
func optionFlags(flags []string) []string {
	var out []string
	for i := 0; i+2 < len(flags); i++ {
		if flags[i] == "--option" {
			out = append(out, flags[i:i+3]...)
			i += 2
		}
	}
	return out
}

// checkSetup finds the states in which nix answers --version but every
// build fails: a build-users-group that does not exist or has no members
// (Debian's nix-bin as root), a daemon store whose socket does not answer,
// and a store berth's user can neither write nor reach through a daemon.
// It follows nix 2.8's choice of store for store = auto (store-api.cc):
// the local store when the state dir is writable, else the daemon when its
// socket exists.
func (r *Runner) checkSetup(ctx context.Context, bin string) error {
	s, err := r.showConfig(ctx, bin)
	if err != nil {
		return err
	}
	store := s.Store
	if store == "auto" || store == "" {
		switch {
		case unix.Access(s.StateDir, unix.R_OK|unix.W_OK) == nil:
			store = "local"
		case exists(s.DaemonSocket):
			store = "daemon"
		default:
			store = "local"
		}
	}
	switch {
	case store == "daemon" || strings.HasPrefix(store, "unix://"):
		sock := s.DaemonSocket
		if p, ok := strings.CutPrefix(store, "unix://"); ok && p != "" {
			sock = p
		}
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			return &SetupError{
				Problem: fmt.Sprintf("nix uses its daemon (store = %s), whose socket %s does not answer: %v", s.Store, sock, err),
				Fix:     "start the nix daemon (systemctl enable --now nix-daemon.socket; Debian: apt-get install nix-setup-systemd) and add berth's user to the nix-users group",
			}
		}
		c.Close()
	case store == "local":
		if !writableOrCreatable(s.StateDir) {
			return &SetupError{
				Problem: fmt.Sprintf("berth's user cannot write nix's state dir %s and no nix daemon answers at %s", s.StateDir, s.DaemonSocket),
				Fix:     "start the nix daemon (Debian: apt-get install nix-setup-systemd) and add berth's user to the nix-users group",
			}
		}
		if os.Getuid() != 0 || s.BuildUsersGroup == "" {
			return nil // nix builds as the caller
		}
		g, err := user.LookupGroup(s.BuildUsersGroup)
		if err != nil {
			return &SetupError{
				Problem: fmt.Sprintf("the group %q named in nix's build-users-group does not exist, so every nix build fails", s.BuildUsersGroup),
				Fix:     fmt.Sprintf(buildUsersFix, s.BuildUsersGroup),
			}
		}
		if !hasMembers(g.Name) {
			return &SetupError{
				Problem: fmt.Sprintf("the group %q named in nix's build-users-group has no members, so every nix build fails", s.BuildUsersGroup),
				Fix:     fmt.Sprintf(buildUsersFix, s.BuildUsersGroup),
			}
		}
	}
	return nil
}

// hasMembers reports whether /etc/group lists members for name; nix takes
// its build users from that list (getgrnam's gr_mem), not from the users
// whose primary group it is.
func hasMembers(name string) bool {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return true // cannot tell: let nix say
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 4 && f[0] == name {
			return strings.TrimSpace(f[3]) != ""
		}
	}
	return true // not in /etc/group (NSS): let nix say
}

// writableOrCreatable says whether nix's local store can use dir: it is
// writable, or it does not exist yet and its nearest existing ancestor is
// writable, since nix creates the state dir on its first use (a new
// machine before any build has no /nix/var/nix).
func writableOrCreatable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			return unix.Access(d, unix.W_OK) == nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
