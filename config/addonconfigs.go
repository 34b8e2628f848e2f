package config

import (
	"fmt"
)

// Addons holds Docspell's per-addon configuration in joex's own shape
// (docspell.joex.addons.configs in Docspell's reference.conf, lines
// 866-885), so that an operator can carry a joex configuration over.
type Addons struct {
	Configs []AddonConfig `yaml:"configs"`
}

// AddonConfig is Docspell's AddonConfig
// (modules/backend/src/main/scala/docspell/backend/joex/AddonConfig.scala):
// variables for the addon whose meta.name is Name, only when Enabled.
type AddonConfig struct {
	Name string `yaml:"name"`
	// Enabled is true when absent, as in Docspell.
	Enabled *bool         `yaml:"enabled"`
	Envs    []AddonEnvVar `yaml:"envs"`
}

// AddonEnvVar is one variable: a literal Value, or ValueFrom another
// variable of berth's environment. Value wins when both are set.
type AddonEnvVar struct {
	Name      string        `yaml:"name"`
	Value     *string       `yaml:"value"`
	ValueFrom *AddonEnvFrom `yaml:"value-from"`
}

// AddonEnvFrom names the variable of berth's environment to read.
// Optional is true when absent: an unset variable is then left out; with
// optional: false it is passed as the empty string (Docspell's meaning,
// AddonConfig.scala:37-49, and reference.conf:881-884).
type AddonEnvFrom struct {
	Env      string `yaml:"env"`
	Optional *bool  `yaml:"optional"`
}

func (a Addons) validate(bad func(field, format string, args ...any) error) error {
	for i, c := range a.Configs {
		field := fmt.Sprintf("addons.configs[%d]", i)
		if c.Name == "" {
			return bad(field+".name", "missing: the meta.name of the addon")
		}
		for j, e := range c.Envs {
			f := fmt.Sprintf("%s.envs[%d]", field, j)
			if !envVarName().MatchString(e.Name) {
				return bad(f+".name", "%q is not a variable name (letters, digits and '_', not starting with a digit)", e.Name)
			}
			if e.ValueFrom != nil && e.Value == nil && !envVarName().MatchString(e.ValueFrom.Env) {
				return bad(f+".value-from.env", "%q is not a variable name", e.ValueFrom.Env)
			}
		}
	}
	return nil
}

// env resolves the joex-style variables of the addon name, as Docspell
// does: disabled configurations give nothing; an entry with neither value
// nor value-from is skipped.
func (a Addons) env(name string, lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for _, c := range a.Configs {
		if c.Name != name || c.Enabled != nil && !*c.Enabled {
			continue
		}
		for _, e := range c.Envs {
			switch {
			case e.Value != nil:
				out[e.Name] = *e.Value
			case e.ValueFrom != nil && e.ValueFrom.Env != "":
				if v, ok := lookup(e.ValueFrom.Env); ok {
					out[e.Name] = v
				} else if e.ValueFrom.Optional != nil && !*e.ValueFrom.Optional {
					out[e.Name] = ""
				}
			}
		}
	}
	return out
}
