package settings

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheBadKey(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Serve)
		key  string
	}{
		{"a listen address without a port", func(s *Serve) { s.Listen = "localhost" }, "serve.listen"},
		{"no concurrency", func(s *Serve) { s.Concurrency = 0 }, "serve.concurrency"},
		{"negative retries", func(s *Serve) { s.Retries = -1 }, "serve.retries"},
		{"a zero body limit", func(s *Serve) { s.MaxBody = 0 }, "serve.max-body"},
		{"a zero poll interval", func(s *Serve) { s.PollInterval = 0 }, "poll-interval"},
		{"no log lines", func(s *Serve) { s.LogLines = 0 }, "serve.log-lines"},
		{"a negative retention", func(s *Serve) { s.Retention = Duration(-time.Hour) }, "serve.retention"},
		{"a retention of a second", func(s *Serve) { s.Retention = Duration(time.Second) }, "serve.retention"},
		{"a retention of a nanosecond", func(s *Serve) { s.Retention = 1 }, "serve.retention"},
		{"no request timeout", func(s *Serve) { s.RequestTimeout = 0 }, "request-timeout"},
		{"no transfer timeout", func(s *Serve) { s.TransferTimeout = 0 }, "transfer-timeout"},
		{"a negative idle timeout", func(s *Serve) { s.IdleTimeout = Duration(-time.Second) }, "idle-timeout"},
		{"no connections", func(s *Serve) { s.MaxConnections = 0 }, "serve.max-connections"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			s := Default()
			c.mod(&s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("Validate = %v, want an error naming %s", err, c.key)
			}
		})
	}
}

func TestRetentionOfZeroOrAtLeastAMinuteIsAccepted(t *testing.T) {
	for _, d := range []time.Duration{0, time.Minute, 720 * time.Hour} {
		s := Default()
		s.Retention = Duration(d)
		if err := s.Validate(); err != nil {
			t.Errorf("retention %v: Validate = %v, want nil", d, err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8470": true, "[::1]:8470": true, "localhost:1": true,
		"0.0.0.0:8470": false, ":8470": false, "192.168.1.2:80": false, "example.org:80": false,
	} {
		if got := (Serve{Listen: addr}).Loopback(); got != want {
			t.Errorf("Loopback(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestSizesAndDurationsParse(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30, "2M": 2 << 20} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("%q = %d, %v; want %d", in, b, err, want)
		}
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("lots")); err == nil {
		t.Error(`"lots" parsed as a size`)
	}
	var d Duration
	if err := d.Set("90s"); err != nil || d.Std() != 90*time.Second {
		t.Errorf("90s = %s, %v", d, err)
	}
	if err := d.Set("soon"); err == nil {
		t.Error(`"soon" parsed as a duration`)
	}
}
