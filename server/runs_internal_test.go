package server

import (
	"testing"

	"github.com/berth-dev/berth/executor"
)

func TestNeverStartedOnlyForTheFirstAddonsTextFileBusy(t *testing.T) {
	busy := "starting /w/addons/a-1/run.sh: fork/exec /w/addons/a-1/run.sh: text file busy"
	cases := []struct {
		name string
		res  *executor.Result
		want bool
	}{
		{"the first addon could not be exec'd", &executor.Result{Kind: executor.ExecutionFailed, Addons: []executor.AddonResult{{Kind: executor.ExecutionFailed, Error: busy}}}, true},
		{"the second addon could not be exec'd (the first ran)", &executor.Result{Kind: executor.ExecutionFailed, Addons: []executor.AddonResult{{Kind: executor.Success}, {Kind: executor.ExecutionFailed, Error: busy}}}, false},
		{"another failure", &executor.Result{Kind: executor.ExecutionFailed, Addons: []executor.AddonResult{{Kind: executor.ExecutionFailed, Error: "timed out"}}}, false},
		{"a success", &executor.Result{Kind: executor.Success, Addons: []executor.AddonResult{{Kind: executor.Success}}}, false},
		{"no result", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := neverStarted(c.res); got != c.want {
				t.Fatalf("neverStarted = %v, want %v", got, c.want)
			}
		})
	}
}
