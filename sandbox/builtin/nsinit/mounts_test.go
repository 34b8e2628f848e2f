package nsinit

import (
	"slices"
	"testing"
)

func TestBoundMountsFollowTheHostsMountsBelowTheSource(t *testing.T) {
	host := []string{"/", "/proc", "/usr", "/usr/local", "/usr/local/share/x", "/usrx", "/nix/store", "/home/a b"}
	cases := []struct {
		name string
		bind Bind
		want []string
	}{
		{"a directory with mounts below", Bind{Src: "/usr", Dst: "/usr", Dir: true}, []string{"/usr", "/usr/local", "/usr/local/share/x"}},
		{"bound elsewhere", Bind{Src: "/usr/local", Dst: "/mnt/l", Dir: true}, []string{"/mnt/l", "/mnt/l/share/x"}},
		{"a sibling with the same prefix is not below", Bind{Src: "/usr/local/share", Dst: "/s", Dir: true}, []string{"/s", "/s/x"}},
		{"nothing below", Bind{Src: "/nix/store", Dst: "/nix/store", Dir: true}, []string{"/nix/store"}},
		{"a file has nothing below", Bind{Src: "/etc/hosts", Dst: "/etc/hosts"}, []string{"/etc/hosts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := boundMounts(c.bind, host); !slices.Equal(got, c.want) {
				t.Errorf("boundMounts = %q, want %q", got, c.want)
			}
		})
	}
}
