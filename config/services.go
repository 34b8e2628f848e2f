package config

import (
	"fmt"
	"path/filepath"

	"github.com/berth-dev/berth/internal/lazyregexp"
)

// ServicesFile is one entry of berth.yaml's services: list: a services
// file that `berth serve` supervises from its start.
type ServicesFile struct {
	// File is the services file; a relative path is relative to the
	// directory of berth.yaml (Load makes it absolute).
	File string `yaml:"file"`
	// Project names the project; empty: the file's own project: key,
	// else "default", as `berth services up` decides.
	Project string `yaml:"project"`
	// Names limits the supervision to these containers (and what they
	// depend on); empty: every autoStart container.
	Names []string `yaml:"names"`
	// Replace lets berth remove a container of a declared name that it
	// did not create for this project (`up --replace`).
	Replace bool `yaml:"replace"`
}

// serviceNameRE is the services file's rule for project and container
// names (service/spec).
var serviceNameRE = lazyregexp.New(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// resolveServices makes the services files' paths absolute: relative to
// the directory of the configuration file (dir), else of the process.
func (c *Config) resolveServices(dir string) {
	for i := range c.Services {
		f := &c.Services[i].File
		if *f == "" || filepath.IsAbs(*f) {
			continue
		}
		if dir != "" {
			*f = filepath.Join(dir, *f)
		}
		if abs, err := filepath.Abs(*f); err == nil {
			*f = abs
		}
	}
}

// validateServices checks the services: entries as far as berth.yaml
// tells: the files themselves are read by the daemon, which reports a
// bad one without refusing to start. A project given twice is refused
// here; one that only the files' project: keys make twice is refused by
// the daemon for the later entry.
func (c *Config) validateServices(bad func(key, format string, args ...any) error) error {
	seen := map[string]int{}
	for i, s := range c.Services {
		key := fmt.Sprintf("services[%d]", i)
		if s.File == "" {
			return bad(key+".file", "is required: the path of a services file (absolute, or relative to this file)")
		}
		if s.Project != "" {
			if !serviceNameRE().MatchString(s.Project) {
				return bad(key+".project", "%q is not a project name (letters, digits, '_', '.', '-', starting with a letter or digit)", s.Project)
			}
			if j, ok := seen[s.Project]; ok {
				return bad(key+".project", "project %q is already services[%d]'s: each project has one services file", s.Project, j)
			}
			seen[s.Project] = i
		}
		for j, n := range s.Names {
			if !serviceNameRE().MatchString(n) {
				return bad(fmt.Sprintf("%s.names[%d]", key, j), "%q is not a container name", n)
			}
		}
	}
	return nil
}
