package docker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Labels berth puts on what it creates, so that tests and operators can
// find every berth container (`docker ps -a --filter label=berth.runner`).
const (
	LabelRunner = "berth.runner" // "docker" on every addon container
	LabelRun    = "berth.run"    // the run id
	// LabelDeadline is when the run's time limit ends (RFC 3339, UTC): a
	// container still running after it was left by a berth that died,
	// and RemoveLeftovers removes it.
	LabelDeadline = "berth.deadline"
	LabelAddon    = "berth.addon"         // meta.name
	LabelVersion  = "berth.addon.version" // meta.version
	LabelHash     = "berth.addon.hash"    // content hash, on built images
	LabelProbe    = "berth.probe"         // doctor's probe image ("1") and containers (the probed dir)
)

// Where the run's directories appear inside the container (as Docspell).
const (
	MountWork   = "/mnt/work"
	MountOutput = "/mnt/output"
	MountCache  = "/mnt/cache"
)

// RunSpec is everything that decides a `docker run` command line. All
// host paths are already in the daemon's view (Config.DaemonPath).
type RunSpec struct {
	Name  string // container name
	Image string
	// RunID, Addon and Version are the values of LabelRun, LabelAddon
	// and LabelVersion.
	RunID, Addon, Version string
	// Deadline, when set, is the value of LabelDeadline.
	Deadline time.Time

	// Network is the --network value ("none" for pure addons).
	Network string
	// User is the --user value; empty passes none.
	User            string
	CapDropAll      bool
	NoNewPrivileges bool
	ReadOnlyRoot    bool
	// HomeTmpfs, with ReadOnlyRoot, is a further --tmpfs value
	// (PATH:OPTIONS) for the image user's HOME.
	HomeTmpfs string
	// SeccompProfile, when set, is a seccomp profile file passed with
	// --security-opt seccomp= (podman: NoUserNamespaces of its default).
	SeccompProfile string
	Limits         Limits

	// Host directories (daemon view) bound at MountWork, MountOutput and
	// MountCache.
	WorkDir, OutputDir, CacheDir string

	// Env is KEY=VALUE pairs passed with --env (the contract variables:
	// paths, never secrets). EnvFile, when set, is a file of further
	// variables (the operator's, which may be secrets: never in argv).
	Env     []string
	EnvFile string

	// Args follow the image: the image's ENTRYPOINT is the program.
	Args []string
}

// RunArgs returns the arguments after the binary (and its global
// arguments) for one addon container. It is pure: the same spec always
// gives the same list. Errors come only from paths that cannot be
// expressed in a --mount value.
func RunArgs(s RunSpec) ([]string, error) {
	args := []string{"run",
		"--name", s.Name,
		"--label", LabelRunner + "=docker",
		"--label", LabelRun + "=" + s.RunID,
		"--label", LabelAddon + "=" + s.Addon,
		"--label", LabelVersion + "=" + s.Version,
	}
	if !s.Deadline.IsZero() {
		args = append(args, "--label", LabelDeadline+"="+s.Deadline.UTC().Format(time.RFC3339))
	}
	args = append(args,
		// Prepare already made sure the image is here; never pull at run.
		"--pull", "never",
		"--network", s.Network,
		// berth reads stdout and stderr through the attached client; a
		// second copy in the daemon's log files is only disk I/O (and a
		// place for whatever the addon printed to linger).
		"--log-driver", "none",
	)
	if s.User != "" {
		args = append(args, "--user", s.User)
	}
	if s.CapDropAll {
		args = append(args, "--cap-drop", "ALL")
	}
	if s.NoNewPrivileges {
		args = append(args, "--security-opt", "no-new-privileges")
	}
	if s.SeccompProfile != "" {
		args = append(args, "--security-opt", "seccomp="+s.SeccompProfile)
	}
	if s.ReadOnlyRoot {
		args = append(args, "--read-only", "--tmpfs", "/tmp")
		if s.HomeTmpfs != "" && !strings.HasPrefix(s.HomeTmpfs, "/tmp:") && !strings.HasPrefix(s.HomeTmpfs, "/tmp/") {
			args = append(args, "--tmpfs", s.HomeTmpfs)
		}
	}
	if m := s.Limits.Memory; m != "" && m != "0" {
		// Equal swap: the limit is the limit, not limit plus as much swap.
		args = append(args, "--memory", m, "--memory-swap", m)
	}
	if c := s.Limits.CPUs; c != "" && c != "0" {
		args = append(args, "--cpus", c)
	}
	if p := s.Limits.Pids; p > 0 {
		args = append(args, "--pids-limit", strconv.Itoa(p))
	}
	for _, m := range []struct{ src, dst string }{
		{s.WorkDir, MountWork}, {s.OutputDir, MountOutput}, {s.CacheDir, MountCache},
	} {
		mnt, err := bindMount(m.src, m.dst, false)
		if err != nil {
			return nil, err
		}
		args = append(args, "--mount", mnt)
	}
	args = append(args, "--workdir", MountWork)
	for _, kv := range s.Env {
		args = append(args, "--env", kv)
	}
	if s.EnvFile != "" {
		args = append(args, "--env-file", s.EnvFile)
	}
	args = append(args, s.Image)
	return append(args, s.Args...), nil
}

// bindMount is a --mount value. --mount, unlike -v, fails when the source
// does not exist instead of creating an empty directory on the daemon's
// side, which is what makes a wrong path mapping visible. Docker and
// podman read the value as one CSV record, so a source holding a comma or
// a quote is quoted CSV-style.
func bindMount(src, dst string, readonly bool) (string, error) {
	if src == "" || strings.ContainsAny(src, "\n\r\x00") {
		return "", fmt.Errorf("cannot bind %q at %s: a mount source must be non-empty and hold no line break", src, dst)
	}
	source := "source=" + src
	if strings.ContainsAny(src, ",\"") {
		source = `"` + strings.ReplaceAll(source, `"`, `""`) + `"`
	}
	v := "type=bind," + source + ",target=" + dst
	if readonly {
		v += ",readonly"
	}
	return v, nil
}

// BuildArgs returns the arguments of `docker build` for an addon: the
// Dockerfile ("-": read from stdin), the tag, the labels (sorted by
// key), the network ("" passes none: the engine's default) and the
// context dir.
// --force-rm: docker's legacy builder otherwise keeps the container of a
// failed step, and berth must leave no container behind (podman's
// default is the same, so it changes nothing there).
func BuildArgs(dockerfile, tag string, labels map[string]string, network, contextDir string) []string {
	args := []string{"build", "--force-rm", "--file", dockerfile, "--tag", tag}
	if network != "" {
		args = append(args, "--network", network)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--label", k+"="+labels[k])
	}
	return append(args, contextDir)
}

// ProbeArgs returns the arguments of `docker create` for doctor's probe:
// a container that is never started, with dir (daemon view) bound
// read-only at /mnt/probe so the marker can be copied out of it.
func ProbeArgs(name, image, dir string) ([]string, error) {
	mnt, err := bindMount(dir, "/mnt/probe", true)
	if err != nil {
		return nil, err
	}
	return []string{"create",
		"--name", name,
		"--label", LabelProbe + "=" + dir,
		"--network", "none",
		"--mount", mnt,
		image, "/berth-probe",
	}, nil
}

// ImageTag is the tag of a built addon image:
// berth-addon/<name>:<version>-<hash12>, lower-cased, with characters a
// repository or tag may not hold replaced.
func ImageTag(name, version, hash string) string {
	if len(hash) > 12 {
		hash = hash[:12]
	}
	tag := tagPart(version)
	if max := 128 - 1 - len(hash); len(tag) > max {
		tag = tag[:max]
	}
	return "berth-addon/" + repoPart(name) + ":" + tag + "-" + hash
}

// repoPart makes s a valid repository path component: lower-case
// letters and digits, runs of anything else become one '-'.
func repoPart(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "addon"
	}
	return b.String()
}

// tagPart makes s valid in a tag: [a-z0-9_.-], not starting with . or -.
func tagPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	t := strings.TrimLeft(b.String(), ".-")
	if t == "" {
		return "v"
	}
	return t
}

// nameToken makes s valid in a container name: [a-zA-Z0-9_.-].
func nameToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// ContainerName is berth-<name>-<version>-<random>.
func ContainerName(name, version string) string {
	return "berth-" + nameToken(name) + "-" + nameToken(version) + "-" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
