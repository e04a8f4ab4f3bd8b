package main

import (
	"errors"
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
