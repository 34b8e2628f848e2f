package executor

import (
	"time"

	"github.com/berth-dev/berth/output"
	"github.com/berth-dev/berth/runner"
)

// Kind classifies how a run ended, with Docspell's names.
type Kind string

// The result kinds.
const (
	// Success: the program exited 0 and its output (if collected) decoded.
	Success Kind = "success"
	// ExecutionError: the program ran and exited non-zero.
	ExecutionError Kind = "execution-error"
	// ExecutionFailed: the program could not be run to its end: no
	// runner, build failure, timeout, cancel, output over the cap.
	ExecutionFailed Kind = "execution-failed"
	// DecodingError: the program succeeded but its stdout is not valid
	// output.
	DecodingError Kind = "decoding-error"
)

// ExitCode is the documented exit status of `berth addon run` per kind.
func (k Kind) ExitCode() int {
	switch k {
	case Success:
		return 0
	case ExecutionError:
		return 3
	case ExecutionFailed:
		return 4
	case DecodingError:
		return 5
	}
	return 1
}

// Result is the outcome of a chain. Output and OutputFiles are set only
// when Kind is Success: a failed run must have no effect on the host.
type Result struct {
	RunID string `json:"runId"`
	// Addon and Runner name the chain's addons and the runners that ran
	// them, comma-separated.
	Addon  string `json:"addon"`
	Runner string `json:"runner"`
	Kind   Kind   `json:"result"`
	Error  string `json:"error,omitempty"`
	// ExitCode and StderrTail are the failing addon's, on failure.
	ExitCode    int            `json:"exitCode"`
	StderrTail  []string       `json:"stderr,omitempty"`
	Output      *output.Output `json:"output,omitempty"`
	OutputDir   string         `json:"outputDir,omitempty"`
	OutputFiles []string       `json:"outputFiles,omitempty"`
	Addons      []AddonResult  `json:"addons"`
	Duration    Duration       `json:"duration"`
	// Pure is true when every addon of the chain is pure; Isolated when
	// every addon that ran was isolated.
	Pure     bool `json:"pure"`
	Isolated bool `json:"isolated"`
	// Warnings are things the operator should know, such as a pure addon
	// that ran without isolation.
	Warnings []string `json:"warnings,omitempty"`
}

// AddonResult is what one addon of a chain did. Output is nil in every
// addon of a failed chain.
type AddonResult struct {
	Addon      string         `json:"addon"`
	Runner     string         `json:"runner,omitempty"`
	Kind       Kind           `json:"result"`
	Error      string         `json:"error,omitempty"`
	ExitCode   int            `json:"exitCode"`
	Output     *output.Output `json:"output,omitempty"`
	StderrTail []string       `json:"stderr,omitempty"`
	Duration   Duration       `json:"duration"`
	Pure       bool           `json:"pure"`
	Isolated   bool           `json:"isolated"`
	Cached     bool           `json:"cached"`
	// OutOfMemory is set when the program was killed for its memory limit.
	OutOfMemory bool `json:"outOfMemory,omitempty"`
	// Limits says which limits bounded the run and whether an OOM kill
	// would be reported (sandboxed process runs only).
	Limits *runner.Enforcement `json:"limits,omitempty"`
	// Attempts holds every runner tried, in order, with its real error.
	Attempts []Attempt `json:"attempts"`
	// notes are the last attempt's runner.Prepared.Notes, for the run's
	// warnings.
	notes []string
}

// Attempt is one runner's try at an addon.
type Attempt struct {
	Runner   string   `json:"runner"`
	Kind     Kind     `json:"result"`
	Error    string   `json:"error,omitempty"`
	ExitCode int      `json:"exitCode"`
	Duration Duration `json:"duration"`
	// Warnings are what the attempt's output asked for that berth
	// ignored, such as a file that does not exist.
	Warnings []string `json:"warnings,omitempty"`
	// overDisk is set when the disk watchdog failed the attempt.
	overDisk bool
}

// Duration marshals as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
