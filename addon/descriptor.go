package addon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/berth-dev/berth/internal/lazyregexp"
	"github.com/berth-dev/berth/internal/yamlsafe"
)

// DescriptorFiles are the names a descriptor may have at the addon root,
// in the order they are looked up (as Docspell does).
var DescriptorFiles = []string{"docspell-addon.json", "docspell-addon.yaml", "docspell-addon.yml"}

// Runner kinds an addon may enable.
const (
	RunnerNixFlake = "nix-flake"
	RunnerDocker   = "docker"
	RunnerTrivial  = "trivial"
	RunnerWasm     = "wasm"
)

// AllRunners lists every runner kind in berth's default preference order.
// wasm comes first: a WASI module is isolated by construction and starts
// in milliseconds once compiled, and only addons that ship one enable it.
var AllRunners = []string{RunnerWasm, RunnerNixFlake, RunnerDocker, RunnerTrivial}

// DefaultWasmModule is runner.wasm.module when the descriptor does not say.
const DefaultWasmModule = "addon.wasm"

// Trigger is a lower-cased Docspell trigger name.
type Trigger string

// The triggers Docspell defines.
const (
	TriggerFinalProcessItem   Trigger = "final-process-item"
	TriggerFinalReprocessItem Trigger = "final-reprocess-item"
	TriggerExistingItem       Trigger = "existing-item"
	TriggerScheduled          Trigger = "scheduled"
)

// Triggers lists every known trigger.
var Triggers = []Trigger{TriggerFinalProcessItem, TriggerFinalReprocessItem, TriggerExistingItem, TriggerScheduled}

// ParseTrigger accepts a trigger name in any letter case.
func ParseTrigger(s string) (Trigger, error) {
	t := Trigger(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Triggers, t) {
		return t, nil
	}
	names := make([]string, len(Triggers))
	for i, k := range Triggers {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown trigger %q (known: %s)", s, strings.Join(names, ", "))
}

// Descriptor is a parsed and validated addon descriptor.
type Descriptor struct {
	Meta     Meta         `json:"meta"`
	Triggers []Trigger    `json:"triggers,omitempty"`
	Args     []string     `json:"args,omitempty"`
	Runner   RunnerConfig `json:"runner"`
	Options  Options      `json:"options"`
	// Warnings name what berth accepts and Docspell would refuse, each
	// starting with DocspellRefuses.
	Warnings []string `json:"-"`
}

// Meta names an addon.
type Meta struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// RunnerConfig is the descriptor's runner section. Enable fields are nil
// when the descriptor does not say, which lets auto-detection decide.
type RunnerConfig struct {
	Nix     NixConfig     `json:"nix"`
	Docker  DockerConfig  `json:"docker"`
	Trivial TrivialConfig `json:"trivial"`
	Wasm    WasmConfig    `json:"wasm"`
}

// NixConfig is runner.nix.
type NixConfig struct {
	Enable *bool `json:"enable,omitempty"`
}

// DockerConfig is runner.docker.
type DockerConfig struct {
	Enable *bool  `json:"enable,omitempty"`
	Image  string `json:"image,omitempty"`
	// Build is the Dockerfile path relative to the addon root; Docspell
	// ignores it, berth honours it.
	Build string `json:"build,omitempty"`
}

// TrivialConfig is runner.trivial.
type TrivialConfig struct {
	Enable bool   `json:"enable"`
	Exec   string `json:"exec,omitempty"`
}

// WasmConfig is runner.wasm, a berth extension (Docspell ignores it): a
// WASI preview1 command module run in-process.
type WasmConfig struct {
	// Enable is nil when the descriptor does not say: the runner is then
	// enabled when the module file exists.
	Enable *bool `json:"enable,omitempty"`
	// Module is the .wasm file relative to the addon root;
	// DefaultWasmModule when not given.
	Module string `json:"module,omitempty"`
	// Line is where the runner.wasm section starts in the descriptor (0
	// if unknown); errors found later (Load, Prepare) name it.
	Line int `json:"-"`
}

// Options is the descriptor's options section with defaults applied.
type Options struct {
	Networking    bool `json:"networking"`
	CollectOutput bool `json:"collectOutput"`
}

// Pure reports whether the addon needs no network and only returns data:
// such a run is safe to repeat and may be isolated completely.
func (o Options) Pure() bool { return !o.Networking && o.CollectOutput }

// DescriptorError says what is wrong with a descriptor: the file, the
// field (dotted path) or the line of a syntax error, and why.
type DescriptorError struct {
	File   string
	Field  string
	Line   int
	Reason string
}

func (e *DescriptorError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// ErrNoDescriptor is returned (wrapped) when a directory holds none of
// DescriptorFiles.
var ErrNoDescriptor = errors.New("no addon descriptor found")

// rawDescriptor mirrors the file; a scalar or a pointer tells "absent"
// from "false". Unknown keys are ignored so berth and Docspell may add
// optional keys.
type rawDescriptor struct {
	Meta *struct {
		Name        scalar `yaml:"name"`
		Version     scalar `yaml:"version"`
		Description string `yaml:"description"`
	} `yaml:"meta"`
	Triggers []string `yaml:"triggers"`
	Args     []scalar `yaml:"args"`
	Runner   *struct {
		Nix *struct {
			Enable scalar `yaml:"enable"`
		} `yaml:"nix"`
		Docker *struct {
			Enable scalar `yaml:"enable"`
			Image  string `yaml:"image"`
			Build  string `yaml:"build"`
		} `yaml:"docker"`
		Trivial *struct {
			Enable scalar  `yaml:"enable"`
			Exec   *string `yaml:"exec"`
		} `yaml:"trivial"`
		Wasm *struct {
			Enable scalar `yaml:"enable"`
			Module string `yaml:"module"`
		} `yaml:"wasm"`
	} `yaml:"runner"`
	Options *struct {
		Networking    scalar `yaml:"networking"`
		CollectOutput scalar `yaml:"collectOutput"`
	} `yaml:"options"`
}

// safeName is what name and version may hold: they become directory
// names and image tags.
var safeName = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// DocspellRefuses starts each warning about a descriptor that berth
// accepts and Docspell would refuse.
const DocspellRefuses = "Docspell would refuse this: "

// ParseDescriptor parses descriptor bytes; file is used in errors only.
// JSON is parsed as YAML, which it is a subset of. Values are read as
// Docspell's YAML 1.1 parser reads them: yes/no/on/off are booleans and
// a key given twice keeps its last value. What berth accepts and
// Docspell would refuse is listed in Descriptor.Warnings.
func ParseDescriptor(file string, data []byte) (Descriptor, error) {
	var raw rawDescriptor
	if err := yamlsafe.Unmarshal(data, &raw, yaml.AllowDuplicateMapKey()); err != nil {
		return Descriptor{}, yamlError(file, data, err)
	}
	fail := func(field, format string, args ...any) (Descriptor, error) {
		return Descriptor{}, &DescriptorError{File: file, Field: field, Line: fieldLine(data, "$."+field), Reason: fmt.Sprintf(format, args...)}
	}
	var d Descriptor
	warn := func(format string, args ...any) {
		d.Warnings = append(d.Warnings, DocspellRefuses+fmt.Sprintf(format, args...))
	}
	// boolean reads an optional YAML 1.1 boolean.
	boolean := func(field string, v scalar) (*bool, error) {
		if !v.set || v.kind == kindNull {
			return nil, nil
		}
		b, ok := v.boolValue()
		if !ok {
			_, err := fail(field, "must be true or false (yes/no and on/off are read as Docspell reads them), got %s %q", v.kind, v.text)
			return nil, err
		}
		return &b, nil
	}
	// text reads meta.name or meta.version: Docspell wants a YAML
	// string, berth takes a number's literal as written.
	text := func(field string, v scalar) (string, error) {
		switch v.kind {
		case kindNull:
			return "", nil
		case kindCollection:
			_, err := fail(field, "must be a string, got %s", v.kind)
			return "", err
		case kindString:
		default:
			warn("%s: %s is %s to Docspell's YAML parser, which wants a string; quote it: \"%s\"", field, v.text, v.kind, v.text)
		}
		return strings.TrimSpace(v.text), nil
	}
	// Docspell reads a .json descriptor with a JSON parser
	// (AddonMeta.scala:146-147); berth reads every descriptor as YAML.
	if strings.EqualFold(filepath.Ext(file), ".json") && !json.Valid(data) {
		warn("%s is not valid JSON (berth reads it as YAML); Docspell parses a .json descriptor as JSON", filepath.Base(file))
	}
	if raw.Meta == nil {
		return fail("meta", "is required")
	}
	name, err := text("meta.name", raw.Meta.Name)
	if err != nil {
		return Descriptor{}, err
	}
	if name == "" {
		return fail("meta.name", "is required")
	}
	d.Meta.Name = name
	if !safeName().MatchString(d.Meta.Name) {
		return fail("meta.name", "%q may hold only letters, digits, '.', '_', '+' and '-', and must start with a letter or digit", d.Meta.Name)
	}
	if d.Meta.Version, err = text("meta.version", raw.Meta.Version); err != nil {
		return Descriptor{}, err
	}
	if d.Meta.Version == "" {
		return fail("meta.version", "is required")
	}
	if !safeName().MatchString(d.Meta.Version) {
		return fail("meta.version", "%q may hold only letters, digits, '.', '_', '+' and '-'", d.Meta.Version)
	}
	d.Meta.Description = raw.Meta.Description

	for i, s := range raw.Triggers {
		t, err := ParseTrigger(s)
		if err != nil {
			return fail(fmt.Sprintf("triggers[%d]", i), "%v", err)
		}
		if !slices.Contains(d.Triggers, t) {
			d.Triggers = append(d.Triggers, t)
		}
	}
	for i, a := range raw.Args {
		field := fmt.Sprintf("args[%d]", i)
		switch a.kind {
		case kindCollection:
			return fail(field, "must be a string, got %s", a.kind)
		case kindString:
		default:
			// `args: [--level, 2]` keeps "2" as written, never a float's
			// rewriting of it.
			warn("%s: %s is %s to Docspell's YAML parser, which wants a string; quote it: \"%s\"", field, a.text, a.kind, a.text)
		}
		d.Args = append(d.Args, a.text)
	}

	// Docspell's runner blocks each require enable (AddonMeta.scala:88-90).
	noEnable := func(block string, v scalar) {
		if !v.set || v.kind == kindNull {
			warn("runner.%s has no enable; Docspell requires it in every runner block", block)
		}
	}
	if r := raw.Runner; r != nil {
		if r.Nix != nil {
			noEnable("nix", r.Nix.Enable)
			if d.Runner.Nix.Enable, err = boolean("runner.nix.enable", r.Nix.Enable); err != nil {
				return Descriptor{}, err
			}
		}
		if r.Docker != nil {
			noEnable("docker", r.Docker.Enable)
			d.Runner.Docker = DockerConfig{Image: strings.TrimSpace(r.Docker.Image), Build: r.Docker.Build}
			if d.Runner.Docker.Enable, err = boolean("runner.docker.enable", r.Docker.Enable); err != nil {
				return Descriptor{}, err
			}
			if b := r.Docker.Build; b != "" && !localPath(b) {
				return fail("runner.docker.build", "%q must be a relative path inside the addon", b)
			}
			if img := r.Docker.Image; img != "" {
				if reason := imageRefProblem(d.Runner.Docker.Image); reason != "" {
					return fail("runner.docker.image", "%q is not an image reference: %s", img, reason)
				}
			}
		}
		if r.Trivial != nil {
			noEnable("trivial", r.Trivial.Enable)
			enable, err := boolean("runner.trivial.enable", r.Trivial.Enable)
			if err != nil {
				return Descriptor{}, err
			}
			d.Runner.Trivial.Enable = enable != nil && *enable
			if r.Trivial.Exec != nil {
				d.Runner.Trivial.Exec = *r.Trivial.Exec
			} else {
				warn("runner.trivial has no exec; Docspell requires it even when the runner is disabled")
			}
			if d.Runner.Trivial.Enable {
				switch {
				case d.Runner.Trivial.Exec == "":
					return fail("runner.trivial.exec", "is required when runner.trivial.enable is true")
				case !localPath(d.Runner.Trivial.Exec):
					return fail("runner.trivial.exec", "%q must be a relative path inside the addon", d.Runner.Trivial.Exec)
				}
			}
		}
		if r.Wasm != nil {
			d.Runner.Wasm = WasmConfig{Module: strings.TrimSpace(r.Wasm.Module), Line: fieldLine(data, "$.runner.wasm")}
			if d.Runner.Wasm.Enable, err = boolean("runner.wasm.enable", r.Wasm.Enable); err != nil {
				return Descriptor{}, err
			}
			if r.Wasm.Module != "" && !localPath(d.Runner.Wasm.Module) {
				return fail("runner.wasm.module", "%q must be a relative path inside the addon", r.Wasm.Module)
			}
		}
	}
	if d.Runner.Wasm.Module == "" {
		d.Runner.Wasm.Module = DefaultWasmModule
	}

	// Defaults as Docspell's: no network, collect output. Unlike Docspell,
	// a key missing from a present options object takes its default too.
	d.Options = Options{Networking: false, CollectOutput: true}
	if o := raw.Options; o != nil {
		net, err := boolean("options.networking", o.Networking)
		if err != nil {
			return Descriptor{}, err
		}
		collect, err := boolean("options.collectOutput", o.CollectOutput)
		if err != nil {
			return Descriptor{}, err
		}
		if net != nil {
			d.Options.Networking = *net
		}
		if collect != nil {
			d.Options.CollectOutput = *collect
		}
		if net == nil || collect == nil {
			warn("options has no %s; Docspell requires both networking and collectOutput, berth takes the default of a missing one", missingOption(net, collect))
		}
	}
	if !d.Options.Networking && !d.Options.CollectOutput {
		return fail("options", "networking: false with collectOutput: false leaves the addon no way to have any effect; enable one of them")
	}
	return d, nil
}

func missingOption(net, collect *bool) string {
	switch {
	case net == nil && collect == nil:
		return "networking and no collectOutput"
	case net == nil:
		return "networking"
	}
	return "collectOutput"
}

// fieldLine returns the line of the YAML (or JSON) node at path, or 0.
func fieldLine(data []byte, p string) int {
	yp, err := yaml.PathString(p)
	if err != nil {
		return 0
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0
	}
	n, err := yp.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// localPath reports whether p is relative and stays inside its root.
func localPath(p string) bool {
	return filepath.IsLocal(filepath.FromSlash(p))
}

var yamlPos = lazyregexp.New(`^\[(\d+):(\d+)\]\s*`)

var lineKey = lazyregexp.New(`^\s*(?:-\s*)?([A-Za-z0-9_.-]+)\s*:`)

var keyBefore = lazyregexp.New(`"?([A-Za-z0-9_.-]+)"?\s*:\s*$`)

// yamlError turns a YAML library error into a DescriptorError with the
// line it names, and for a value of the wrong type the key on that line.
func yamlError(file string, data []byte, err error) error {
	var ye *yamlsafe.Error
	if errors.As(err, &ye) {
		return &DescriptorError{File: file, Line: ye.Line, Reason: ye.Reason}
	}
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	de := &DescriptorError{File: file, Reason: strings.TrimSpace(first)}
	col := 0
	if m := yamlPos().FindStringSubmatch(first); m != nil {
		fmt.Sscan(m[1], &de.Line)
		fmt.Sscan(m[2], &col)
		de.Reason = strings.TrimSpace(first[len(m[0]):])
	}
	if de.Reason == "" {
		de.Reason = "cannot be parsed"
	}
	if de.Line > 0 && (strings.Contains(de.Reason, "was used where") || strings.Contains(de.Reason, "cannot unmarshal")) {
		lines := strings.Split(string(data), "\n")
		if de.Line <= len(lines) {
			line := lines[de.Line-1]
			// The column points at the value: its key is the last one
			// before it (a JSON or flow-style line holds several).
			if col > 1 && col-1 <= len(line) {
				if m := keyBefore().FindStringSubmatch(line[:col-1]); m != nil {
					de.Field = m[1]
				}
			}
			if m := lineKey().FindStringSubmatch(line); de.Field == "" && m != nil {
				de.Field = m[1]
			}
		}
	}
	return de
}

// Addon is an addon's files on disk with its descriptor.
type Addon struct {
	// Dir is the absolute directory holding the addon's files.
	Dir string
	// File is the absolute path of the descriptor.
	File string
	Descriptor
	// noTrivial says why the trivial runner cannot be used although the
	// descriptor enables it (its exec file is missing); "" when it can.
	noTrivial string
}

// ID is name-version, the directory name the contract gives an addon.
func (a *Addon) ID() string { return a.Meta.Name + "-" + a.Meta.Version }

// Pure reports whether the addon is pure (see Options.Pure).
func (a *Addon) Pure() bool { return a.Options.Pure() }

// Runners returns the runner kinds the addon enables, in AllRunners order.
// nix-flake, docker and wasm are detected from flake.nix, Dockerfile (or
// a docker image) and the wasm module unless the descriptor says; trivial
// only when enabled.
func (a *Addon) Runners() []string {
	var out []string
	nix := exists(filepath.Join(a.Dir, "flake.nix"))
	if e := a.Runner.Nix.Enable; e != nil {
		nix = *e
	}
	if nix {
		out = append(out, RunnerNixFlake)
	}
	dockerfile := a.Runner.Docker.Build
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	docker := a.Runner.Docker.Image != "" || exists(filepath.Join(a.Dir, filepath.FromSlash(dockerfile)))
	if e := a.Runner.Docker.Enable; e != nil {
		docker = *e
	}
	if docker {
		out = append(out, RunnerDocker)
	}
	if a.Runner.Trivial.Enable && a.noTrivial == "" {
		out = append(out, RunnerTrivial)
	}
	wasm := exists(filepath.Join(a.Dir, filepath.FromSlash(a.Runner.Wasm.Module)))
	if e := a.Runner.Wasm.Enable; e != nil {
		wasm = *e
	}
	if wasm {
		// AllRunners order: wasm first.
		out = append([]string{RunnerWasm}, out...)
	}
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// FindDescriptor returns the path of the descriptor in dir.
func FindDescriptor(dir string) (string, error) {
	for _, name := range DescriptorFiles {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("%s: %w (looked for %s)", dir, ErrNoDescriptor, strings.Join(DescriptorFiles, ", "))
}

// Load reads and validates the addon in dir without changing anything
// in it. A trivial exec file that leads outside the addon is an error; a
// missing one only takes the trivial runner away (Docspell then tries
// the addon's other runners), with a warning in a.Warnings. The exec
// file need not be executable: the executor makes its copy in WORK so.
func Load(dir string) (*Addon, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	file, err := FindDescriptor(dir)
	if err != nil {
		return nil, err
	}
	data, err := readDescriptor(file)
	if err != nil {
		return nil, err
	}
	d, err := ParseDescriptor(file, data)
	if err != nil {
		return nil, err
	}
	a := &Addon{Dir: dir, File: file, Descriptor: d}
	if d.Runner.Trivial.Enable {
		if err := checkExec(a, data); err != nil {
			return nil, err
		}
	}
	if err := checkWasmModule(dir, file, data, d.Runner.Wasm); err != nil {
		return nil, err
	}
	if len(a.Runners()) == 0 {
		if a.noTrivial != "" {
			return nil, &DescriptorError{File: file, Field: "runner.trivial.exec", Line: fieldLine(data, "$.runner.trivial.exec"), Reason: a.noTrivial + ", and the addon enables no other runner"}
		}
		return nil, &DescriptorError{File: file, Field: "runner", Reason: "enables no runner: add runner.trivial (enable, exec), a Dockerfile or runner.docker.image, a flake.nix, or runner.wasm (module)"}
	}
	// Docspell parses a descriptor without triggers but refuses to
	// install it (AddonValidate.scala:67-73); berth runs it from the CLI.
	if len(d.Triggers) == 0 {
		a.Warnings = append(a.Warnings, DocspellRefuses+"no triggers: Docspell installs an addon only with at least one (final-process-item, final-reprocess-item, existing-item, scheduled)")
	}
	// Docspell builds ./Dockerfile whatever runner.docker.build says
	// (DockerRunner.scala:65-73); berth honours the key.
	if b := d.Runner.Docker.Build; b != "" && path.Clean(b) != "Dockerfile" && d.Runner.Docker.Image == "" && slices.Contains(a.Runners(), RunnerDocker) {
		a.Warnings = append(a.Warnings, fmt.Sprintf("runner.docker.build: berth builds %q; Docspell ignores this key and builds ./Dockerfile", b))
	}
	return a, nil
}

// readDescriptor reads at most yamlsafe.MaxBytes and one byte more, so
// that a huge descriptor is refused without being read whole.
func readDescriptor(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading descriptor: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, yamlsafe.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading descriptor: %w", err)
	}
	return data, nil
}

// checkWasmModule refuses a wasm module that leads outside the addon or
// is not a regular file. A missing module is not an error here: it is
// often a build product (the wasm runner's Prepare says so), and without
// an explicit enable a missing module only means the runner is not offered.
func checkWasmModule(dir, file string, data []byte, w WasmConfig) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	name := filepath.FromSlash(w.Module)
	fail := func(format string, args ...any) error {
		return &DescriptorError{File: file, Field: "runner.wasm.module", Line: fieldLine(data, "$.runner.wasm.module"), Reason: fmt.Sprintf(format, args...)}
	}
	fi, err := root.Stat(name)
	switch {
	case err != nil && exists(filepath.Join(dir, name)):
		return fail("%q leads outside the addon (%v)", w.Module, err)
	case err != nil:
		return nil
	case !fi.Mode().IsRegular():
		return fail("%q is not a regular file", w.Module)
	}
	return nil
}

// checkExec checks the trivial exec file through an os.Root of the
// addon, so that a symlink leading out of the addon is refused rather
// than followed (the copy in WORK could not run it). A missing exec, or
// one that is not a regular file, makes the trivial runner unusable.
func checkExec(a *Addon, data []byte) error {
	root, err := os.OpenRoot(a.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	execPath := a.Runner.Trivial.Exec
	name := filepath.FromSlash(execPath)
	fi, err := root.Stat(name)
	switch {
	case err != nil && exists(filepath.Join(a.Dir, name)):
		return &DescriptorError{File: a.File, Field: "runner.trivial.exec", Line: fieldLine(data, "$.runner.trivial.exec"), Reason: fmt.Sprintf("%q leads outside the addon (%v)", execPath, err)}
	case err != nil:
		a.noTrivial = fmt.Sprintf("%q does not exist in the addon", execPath)
	case !fi.Mode().IsRegular():
		a.noTrivial = fmt.Sprintf("%q is not a regular file", execPath)
	}
	if a.noTrivial != "" {
		a.Warnings = append(a.Warnings, fmt.Sprintf("runner.trivial.exec %s: the trivial runner is not offered", a.noTrivial))
	}
	return nil
}
