package settings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadTokenFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{"comments, blank lines and surrounding space are skipped", "# tokens\n\n  tok-0123456789abcdef  \n#old-0123456789abcdef\ntok-fedcba9876543210\n",
			[]string{"tok-0123456789abcdef", "tok-fedcba9876543210"}, ""},
		{"a file of comments has no token", "# none yet\n", nil, ""},
		{"a short token is refused with its line, not its value", "# c\nshort-secret\n", nil, ":2: a token must be at least 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTokenFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), path+tt.wantErr) || strings.Contains(err.Error(), "short-secret") {
					t.Fatalf("err = %v, want %q after the path, without the token", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ReadTokenFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
