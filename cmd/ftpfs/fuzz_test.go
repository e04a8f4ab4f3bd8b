package main

import (
	"strings"
	"testing"
)

// FuzzParseArgs feeds arbitrary command lines to the parser: it must never
// panic, and what it accepts must be usable.
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{
		"host:/pub\x00/mnt",
		"ftp://u:p%40w@h:2121/a b\x00/mnt\x00-o\x00port=21,user=x,debug",
		"-o\x00tls=implicit,cafile=/c\x00ftps://[::1]/\x00/m",
		"ftpes://h//abs\x00/m\x00-ouid=1,gid=2,umask=077,cache_timeout=0.5",
		"[::1]:rel\x00m\x00-o\x00,,,encoding=gbk,,",
		"h:\x00m\x00-o\x00timeout=1e3,retry_timeout=1,connections=64",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseArgs(strings.Split(s, "\x00"))
		if err != nil || o.help || o.version {
			return
		}
		if o.host == "" || o.mountpoint == "" || o.port < 1 || o.port > 65535 {
			t.Fatalf("accepted %q with host %q, mountpoint %q, port %d", s, o.host, o.mountpoint, o.port)
		}
		// The password would stand in the authority, between "://" and the
		// path (which may hold anything, ":p@" included).
		_, rest, _ := strings.Cut(o.source, "://")
		authority, _, _ := strings.Cut(rest, "/")
		if o.hasURLPass && o.password != "" && strings.Contains(authority, ":"+o.password+"@") {
			t.Fatalf("the source shown keeps the password: %q", o.source)
		}
	})
}
