package main

import (
	"errors"
	stdlog "log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStdLogRouted: what go-fuse prints through the standard log package
// stays out of the log unless -o debug, and a recovered panic does not.
func TestStdLogRouted(t *testing.T) {
	defer func() { stdlog.SetOutput(os.Stderr); stdlog.SetFlags(stdlog.LstdFlags) }()
	const noise = "trySplice: splice: want 1052688 bytes, max pipe size 1048576"
	for _, debug := range []bool{false, true} {
		file := filepath.Join(t.TempDir(), "log")
		l, closeLog, err := newLogger(&options{logFile: file, debug: debug}, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Info("mounted")
		stdlog.Println(noise)
		stdlog.Printf("panic in FS handler: boom\nstack")
		closeLog()
		b, _ := os.ReadFile(file)
		got := string(b)
		if strings.Contains(got, noise) != debug {
			t.Errorf("debug %v: go-fuse's splice line shown %v:\n%s", debug, !debug, got)
		}
		if !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "panic in FS handler") {
			t.Errorf("debug %v: a recovered panic is not logged as an error:\n%s", debug, got)
		}
		if !strings.Contains(got, "msg=mounted") {
			t.Errorf("debug %v: ftpfs's own line missing:\n%s", debug, got)
		}
	}
}

// TestOneLine: the lazy-detach warning carries go-fuse's unmount error,
// which ends in newlines.
func TestOneLine(t *testing.T) {
	// What go-fuse's Unmount returns when fusermount3 fails.
	err := errors.New("/usr/bin/fusermount3: failed to unmount /mnt/x: Device or resource busy\n (code exit status 1)\n")
	want := "/usr/bin/fusermount3: failed to unmount /mnt/x: Device or resource busy (code exit status 1)"
	if got := oneLine(err.Error()); got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}
