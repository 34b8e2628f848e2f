package service

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStampLinesPutsTheTimeBeforeEveryLineThatStarts(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 1, 500000000, time.FixedZone("CET", 3600))
	const ts = "2026-12-03T08:00:01.500000Z "
	tests := []struct {
		name        string
		in          string
		midLine     bool
		want        string
		wantMidLine bool
	}{
		{"one line", "hello\n", false, ts + "hello\n", false},
		{"two lines", "a\nb\n", false, ts + "a\n" + ts + "b\n", false},
		{"a line begun", "par", false, ts + "par", true},
		{"a line ended", "tial\n", true, "tial\n", false},
		{"a line ended, another begun", "tial\nne", true, "tial\n" + ts + "ne", true},
		{"an empty line", "\n", false, ts + "\n", false},
		{"nothing", "", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mid := stampLines(nil, []byte(tt.in), tt.midLine, at)
			if string(got) != tt.want || mid != tt.wantMidLine {
				t.Errorf("stampLines(%q, %v) = %q, %v; want %q, %v", tt.in, tt.midLine, got, mid, tt.want, tt.wantMidLine)
			}
		})
	}
}

// The file gets the times; the last lines in the state stay as written.
func TestServiceLogStampsTheFileNotTheLastLines(t *testing.T) {
	dir := t.TempDir()
	l, err := openServiceLog(dir, "app")
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) }
	l.Write([]byte("hel"))
	l.Write([]byte("lo\nworld\n"))
	l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "logs", "app.log"))
	if want := "2026-12-03T09:00:00.000000Z hello\n2026-12-03T09:00:00.000000Z world\n"; string(b) != want {
		t.Errorf("file:\n%q\nwant\n%q", b, want)
	}
	if got := l.lastLines(); len(got) != 2 || got[0] != "hello" || got[1] != "world" {
		t.Errorf("lastLines = %q", got)
	}
}
