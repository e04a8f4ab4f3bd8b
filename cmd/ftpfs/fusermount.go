package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// withFusermountStderr runs mount (an ordinary user's mount, which go-fuse
// makes through fusermount3) with file descriptor 2 pointed at a pipe, and
// returns what was written there. go-fuse hands fusermount3 ftpfs's own
// stderr and reports only "fusermount exited with code 256": the reason
// ("user has no write access to mountpoint", "option allow_other only
// allowed if ...") is on stderr, which in the background goes nowhere.
// Another goroutine's stderr output in that moment is captured too, and
// given back with it.
func withFusermountStderr(mount func() error) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", mount()
	}
	defer r.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		w.Close()
		return "", mount()
	}
	if err := unix.Dup3(int(w.Fd()), 2, 0); err != nil {
		unix.Close(saved)
		w.Close()
		return "", mount()
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
		got <- string(b)
	}()
	merr := mount()
	_ = unix.Dup3(saved, 2, 0)
	unix.Close(saved)
	w.Close()
	// fusermount3 has exited by now; one that stays (auto_unmount) keeps
	// the pipe open: read what is there and move on.
	_ = r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	return strings.TrimSpace(<-got), merr
}

// fusermountError puts fusermount3's own words into err, on one line.
func fusermountError(said string, err error) error {
	if said == "" {
		return err
	}
	return &mountError{said: strings.Join(strings.Fields(said), " "), err: err}
}

// mountError is a failed mount with what fusermount3 said about it.
type mountError struct {
	said string
	err  error
}

func (e *mountError) Error() string {
	return fmt.Sprintf("%s (%s)", e.said, strings.TrimSpace(e.err.Error()))
}

func (e *mountError) Unwrap() error { return e.err }
