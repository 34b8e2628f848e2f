package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestServicesFilesAreReadRelativeToBerthYAML(t *testing.T) {
	cfg, _, err := Load(filepath.Join("testdata", "services.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	if len(cfg.Services) != 2 {
		t.Fatalf("services = %+v", cfg.Services)
	}
	if got, want := cfg.Services[0].File, filepath.Join(dir, "stacks", "web.yaml"); got != want {
		t.Errorf("services[0].file = %s, want %s", got, want)
	}
	s := cfg.Services[1]
	if s.File != "/srv/db/services.yaml" || s.Project != "db" || len(s.Names) != 1 || s.Names[0] != "postgres" || !s.Replace {
		t.Errorf("services[1] = %+v", s)
	}
}

func TestBadServicesEntriesNameTheFieldAndReason(t *testing.T) {
	for _, tt := range []struct{ name, file, want string }{
		{"a missing file", "services-nofile.yaml", "services-nofile.yaml: services[1].file: is required"},
		{"a project given twice", "services-dup.yaml", `services-dup.yaml: services[1].project: project "web" is already services[0]'s`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(filepath.Join("testdata", tt.file), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("a bad project name", func(t *testing.T) {
		c := Default()
		c.Services = []ServicesFile{{File: "/x.yaml", Project: "-web"}}
		if err := c.Validate("berth.yaml"); err == nil || !strings.Contains(err.Error(), "services[0].project") {
			t.Fatalf("err = %v", err)
		}
	})
}
