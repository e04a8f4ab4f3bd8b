package fs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// killable returns a context for an upload done on behalf of the FUSE
// request ctx (close, fsync, truncate): it outlives the request's
// interrupt, and ends only once the calling process is being killed.
//
// The kernel interrupts a request for any signal the caller takes,
// including ones it handles and carries on after (SIGCHLD, SIGWINCH in a
// shell or an editor); stopping an upload for those would leave the
// server without a file that a close(2) returning a moment later would
// have delivered. A fatal signal is different: the kernel marks every
// thread of the process with SIGKILL pending (complete_signal in
// kernel/signal.c), and a killed writer must not be held for a terabyte
// of zeros. So after the interrupt, the caller's /proc status is checked
// now and every second until the upload ends. stop must be called when
// the upload is done; it ends the watch.
func killable(ctx context.Context) (kctx context.Context, stop context.CancelFunc) {
	kctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	caller, ok := fuse.FromContext(ctx)
	if !ok || ctx.Done() == nil || caller.Pid == 0 {
		return kctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
		case <-kctx.Done():
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if dying(int(caller.Pid)) {
				cancel(errKilled)
				return
			}
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return kctx, func() { cancel(nil); <-done }
}

// errKilled is the cause of a killable context ended by the caller's
// death.
var errKilled = fmt.Errorf("the writer was killed: %w", context.Canceled)

// wasKilled reports whether kctx, from killable, ended because its caller
// was killed.
func wasKilled(kctx context.Context) bool {
	return context.Cause(kctx) == errKilled
}

// dying reports whether the thread tid has a fatal signal pending (SIGKILL
// in its pending set, which /proc/TID/status shows in SigPnd) or is gone.
// A status that cannot be read for another reason is not taken as death.
func dying(tid int) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(tid) + "/status")
	if os.IsNotExist(err) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	return fatalPending(bufio.NewScanner(f))
}

// fatalPending reads a /proc status file: a zombie, or SIGKILL (signal 9,
// bit 8) among the signals pending for the thread or its process.
func fatalPending(sc *bufio.Scanner) bool {
	const sigkill = 1 << (9 - 1)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				return true
			}
		case "SigPnd", "ShdPnd":
			if mask, err := strconv.ParseUint(v, 16, 64); err == nil && mask&sigkill != 0 {
				return true
			}
		}
	}
	return false
}
