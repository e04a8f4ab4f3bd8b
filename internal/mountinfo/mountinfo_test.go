package mountinfo

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Mount
	}{
		{"no optional fields", `36 35 98:0 / /mnt rw,noatime - ext4 /dev/sda1 rw`,
			Mount{"/mnt", "ext4", "/dev/sda1", "rw", "98:0"}},
		{"optional fields", `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue`,
			Mount{"/mnt2", "ext3", "/dev/root", "rw,errors=continue", "98:0"}},
		{"fuse subtype", `70 29 0:52 / /tmp/x rw,nosuid,nodev,relatime shared:40 - fuse.ftpfs 127.0.0.1: rw,user_id=0,group_id=0`,
			Mount{"/tmp/x", "fuse.ftpfs", "127.0.0.1:", "rw,user_id=0,group_id=0", "0:52"}},
		{"escaped space and tab", `70 29 0:52 / /tmp/a\040b\011c rw - fuse.ftpfs h:/my\040dir rw`,
			Mount{"/tmp/a b\tc", "fuse.ftpfs", "h:/my dir", "rw", "0:52"}},
		{"escaped backslash at the end", `70 29 0:52 / /tmp/a\134 rw - tmpfs tmpfs rw`,
			Mount{`/tmp/a\`, "tmpfs", "tmpfs", "rw", "0:52"}},
		{"a backslash that is no escape", `70 29 0:52 / /tmp/a\x rw - tmpfs tmpfs rw`,
			Mount{`/tmp/a\x`, "tmpfs", "tmpfs", "rw", "0:52"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.line + "\n"))
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("Parse(%q) = %+v, %v; want [%+v]", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestOption(t *testing.T) {
	m := Mount{Super: "rw,user_id=1000,group_id=100"}
	if v, ok := m.Option("user_id"); !ok || v != "1000" {
		t.Errorf("Option(user_id) = %q, %v", v, ok)
	}
	if v, ok := m.Option("user"); ok {
		t.Errorf("Option(user) = %q, found in %q", v, m.Super)
	}
}

func TestParseManyAndBlank(t *testing.T) {
	in := "1 0 0:1 / / rw - ext4 /dev/a rw\n\n2 1 0:2 / /proc rw shared:2 - proc proc rw\n"
	got, err := Parse(strings.NewReader(in))
	want := []Mount{{"/", "ext4", "/dev/a", "rw", "0:1"}, {"/proc", "proc", "proc", "rw", "0:2"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %+v, %v; want %+v", got, err, want)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, line := range []string{
		`36 35 98:0 / /mnt rw ext4 /dev/sda1 rw`, // no separator
		`36 35 98:0 / /mnt rw - ext4`,            // no source
		`36 35 98:0 /`,                           // cut short
	} {
		if got, err := Parse(strings.NewReader(line)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", line, got)
		}
	}
}

func TestIsMountPoint(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc/self/mountinfo: ", err)
	}
	if !IsMountPoint("/") {
		t.Error(`IsMountPoint("/") = false`)
	}
	if IsMountPoint(t.TempDir()) {
		t.Error("IsMountPoint(a fresh temporary directory) = true")
	}
}
