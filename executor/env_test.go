package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/executor"
)

// writing.md:118-138: an impure addon gets DSC_SESSION and
// DSC_DOCSPELL_URL from the host. The run's own variables reach the
// program, win over the operator's, and appear nowhere in the result.
func TestTheRunsOwnEnvironmentReachesTheAddonAndNotTheResult(t *testing.T) {
	ex := newExecutor(t)
	ex.Env = func(string) (map[string]string, error) {
		return map[string]string{"DSC_DOCSPELL_URL": "http://operator", "OPERATOR": "op"}, nil
	}
	out := filepath.Join(t.TempDir(), "out")
	secret := "session-" + strings.Repeat("x", 20)
	res, err := ex.Run(context.Background(), executor.Request{
		Steps:     steps(t, "print-env"),
		OutputDir: out,
		Env:       map[string]string{"DSC_SESSION": secret, "DSC_DOCSPELL_URL": "http://docspell:7880"},
	})
	if err != nil || res.Kind != executor.Success {
		t.Fatalf("run: %v %+v", err, res)
	}
	got, _ := os.ReadFile(filepath.Join(out, "env"))
	for _, want := range []string{"DSC_SESSION=" + secret, "DSC_DOCSPELL_URL=http://docspell:7880", "OPERATOR=op"} {
		if !strings.Contains(string(got), want+"\n") {
			t.Errorf("the addon's environment lacks %s:\n%s", want, got)
		}
	}
	if b := tags(t, res); strings.Contains(b, secret) {
		t.Errorf("the result holds the secret: %s", b)
	}
}

func TestABadRunEnvironmentIsRefusedNamingTheVariableNotTheValue(t *testing.T) {
	for _, env := range []map[string]string{{"1BAD": "v"}, {"GOOD": "line\nbreak-secret"}} {
		_, err := newExecutor(t).Run(context.Background(), executor.Request{Steps: steps(t, "print-env"), Env: env})
		if !errors.Is(err, executor.ErrBadRequest) || strings.Contains(err.Error(), "secret") {
			t.Errorf("env %q: err = %v, want ErrBadRequest without the value", env, err)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "run.env")
	os.WriteFile(f, []byte("# the run's secrets\nDSC_SESSION=a=b c\n\nDSC_DOCSPELL_URL=http://h:7880\r\n"), 0o600)
	env, err := executor.ReadEnvFile(f)
	if err != nil || env["DSC_SESSION"] != "a=b c" || env["DSC_DOCSPELL_URL"] != "http://h:7880" || len(env) != 2 {
		t.Errorf("ReadEnvFile = %v, %v", env, err)
	}
	os.WriteFile(f, []byte("OK=1\nnot a line with the-secret\n"), 0o600)
	if _, err := executor.ReadEnvFile(f); err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "the-secret") {
		t.Errorf("err = %v, want line 2 named and no value", err)
	}
}
