package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpfs/ftpfs/conn"
)

func TestWithTLSHint(t *testing.T) {
	const hint = "mount with -o tls"
	tests := []struct {
		err  string
		mode conn.TLSMode
		want bool
	}{
		{"login u: 530 Non-anonymous sessions must use encryption.", conn.TLSOff, true}, // vsftpd
		{"login u: 530 TLS is required", conn.TLSOff, true},                             // ftpserverlib
		{"login u: 550 SSL/TLS required on the control channel", conn.TLSOff, true},     // proftpd
		{"connect h:21: 421 Sorry, cleartext sessions and weak ciphers are not accepted on this server.", conn.TLSOff, true},
		{"login u: 530 Login incorrect.", conn.TLSOff, false},
		{"login u: 530 Non-anonymous sessions must use encryption.", conn.TLSExplicit, false}, // asked for already
	}
	for _, tt := range tests {
		err := withTLSHint(errors.New(tt.err), tt.mode)
		if got := strings.Contains(err.Error(), hint); got != tt.want {
			t.Errorf("withTLSHint(%q, %v) = %q; hint %v, want %v", tt.err, tt.mode, err, got, tt.want)
		}
		if !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("withTLSHint(%q) lost the server's reply: %q", tt.err, err)
		}
	}
	if withTLSHint(nil, conn.TLSOff) != nil {
		t.Error("withTLSHint(nil) != nil")
	}
}

func TestCheckAllowOther(t *testing.T) {
	dir := t.TempDir()
	saved := fuseConf
	defer func() { fuseConf = saved }()
	tests := []struct {
		name    string
		conf    *string // nil: no fuse.conf at all
		allow   bool
		euid    int
		refused bool
	}{
		{"not asked", nil, false, 1000, false},
		{"root", nil, true, 0, false},
		{"no fuse.conf", nil, true, 1000, true},
		{"commented out", ptr("# user_allow_other\nmount_max = 1000\n"), true, 1000, true},
		{"allowed", ptr("mount_max = 1000\n  user_allow_other  # for ftpfs\n"), true, 1000, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fuseConf = filepath.Join(dir, fmt.Sprint("fuse.conf", i))
			if tt.conf != nil {
				if err := os.WriteFile(fuseConf, []byte(*tt.conf), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := checkAllowOther(tt.allow, tt.euid)
			if (err != nil) != tt.refused {
				t.Fatalf("checkAllowOther = %v, refused %v", err, tt.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "user_allow_other") {
				t.Errorf("%q does not name user_allow_other", err)
			}
		})
	}
}

func ptr(s string) *string { return &s }
