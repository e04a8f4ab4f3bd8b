package fs

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestFatalPending(t *testing.T) {
	cases := []struct {
		name, status string
		want         bool
	}{
		{"running", "State:\tS (sleeping)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n", false},
		{"handled SIGCHLD", "State:\tS (sleeping)\nSigPnd:\t0000000000010000\nShdPnd:\t0000000000000000\n", false},
		{"SIGINT, not yet fatal", "State:\tR (running)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000002\n", false},
		{"killed", "State:\tD (disk sleep)\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n", true},
		{"killed, shared", "State:\tD (disk sleep)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000102\n", true},
		{"zombie", "State:\tZ (zombie)\n", true},
	}
	for _, c := range cases {
		if got := fatalPending(bufio.NewScanner(strings.NewReader(c.status))); got != c.want {
			t.Errorf("%s: fatalPending = %v, want %v", c.name, got, c.want)
		}
	}
	if dying(os.Getpid()) {
		t.Error("this test process is taken as dying")
	}
	if !dying(1 << 30) {
		t.Error("a thread that does not exist is not taken as gone")
	}
}
