package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "BERTH_"

// applyEnv overrides settings from BERTH_* variables. The name of a key
// is its YAML path in upper case with '-' and '.' turned into '_':
// run-timeout is BERTH_RUN_TIMEOUT, unpack.max-bytes is
// BERTH_UNPACK_MAX_BYTES. Lists are comma-separated. Maps (env) cannot
// be set this way.
func applyEnv(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	return walkEnv(reflect.ValueOf(cfg).Elem(), EnvPrefix, "", vars)
}

// EnvNames lists every variable applyEnv understands, with its key.
func EnvNames() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, env, key string)
	walk = func(t reflect.Type, env, key string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			e, k := env+envName(name), joinKey(key, name)
			if f.Type.Kind() == reflect.Struct && !isText(f.Type) {
				walk(f.Type, e+"_", k)
			} else if f.Type.Kind() != reflect.Map {
				out[e] = k
			}
		}
	}
	walk(reflect.TypeOf(Config{}), EnvPrefix, "")
	return out
}

func walkEnv(v reflect.Value, env, key string, vars map[string]string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		e, k := env+envName(name), joinKey(key, name)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && !isText(f.Type) {
			if err := walkEnv(fv, e+"_", k, vars); err != nil {
				return err
			}
			continue
		}
		raw, ok := vars[e]
		if !ok {
			continue
		}
		if err := setValue(fv, raw); err != nil {
			return &Error{File: "environment", Key: e + " (" + k + ")", Reason: err.Error()}
		}
	}
	return nil
}

func setValue(v reflect.Value, raw string) error {
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return tu.UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		var parts []string
		for p := range strings.SplitSeq(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func envName(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
