package main

import (
	"testing"

	"github.com/berth-dev/berth/service"
)

func TestStatusDetailShowsHealth(t *testing.T) {
	tests := []struct {
		name string
		st   service.Status
		want string
	}{
		{"a running container shows its health", service.Status{State: service.Running, ContainerID: "abc", Pid: 7, Health: service.HealthHealthy},
			"container abc, pid 7; health healthy"},
		{"an unhealthy one shows its container and why", service.Status{State: service.Unhealthy, ContainerID: "abc", Pid: 7, Health: service.HealthUnhealthy, Reason: "health check failing: no db"},
			"container abc, pid 7; health unhealthy; health check failing: no db"},
		{"a container without a check shows no health", service.Status{State: service.Running, ContainerID: "abc", Pid: 7},
			"container abc, pid 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusDetail(tt.st); got != tt.want {
				t.Errorf("statusDetail = %q, want %q", got, tt.want)
			}
		})
	}
}
