package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPassword: a user with no password from any source, and no terminal
// to ask on, is an error that lists where a password can come from.
func TestNoPassword(t *testing.T) {
	saved := ttyPath
	ttyPath = filepath.Join(t.TempDir(), "no-tty")
	defer func() { ttyPath = saved }()
	t.Setenv("HOME", t.TempDir())  // no ~/.netrc
	t.Setenv("FTPFS_PASSWORD", "") // restored after the test...
	os.Unsetenv("FTPFS_PASSWORD")  // ...and absent during it
	o, err := parseArgs([]string{"ftp://alice@files.lan/", "/mnt"})
	if err != nil {
		t.Fatal(err)
	}
	_, pw, err := credentials(o)
	if err == nil {
		t.Fatalf("credentials gave password %q, want an error", pw)
	}
	for _, want := range []string{"no password for alice@files.lan", "ftp://alice:PASSWORD@files.lan/", "password_file=", "$FTPFS_PASSWORD", "~/.netrc", "terminal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// The anonymous login needs no password from anywhere.
	o, _ = parseArgs([]string{"files.lan:/pub", "/mnt"})
	if user, pw, err := credentials(o); err != nil || user != "anonymous" || pw == "" {
		t.Errorf("anonymous: %q %q %v", user, pw, err)
	}
}
