package service_test

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/service"
)

func TestDefaultStateDir(t *testing.T) {
	tests := []struct {
		name    string
		euid    int
		xdg     string
		want    string
		wantErr error
	}{
		{"root", 0, "/run/user/0", "/run/berth/services/web", nil},
		{"a user", 1000, "/run/user/1000", "/run/user/1000/berth/services/web", nil},
		{"a user without XDG_RUNTIME_DIR", 1000, "", "", service.ErrNoRuntimeDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := service.DefaultStateDir("web", tt.euid, tt.xdg)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("DefaultStateDir = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
