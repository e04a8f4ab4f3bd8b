package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
)

// serve waits for the filesystem to be unmounted, by umount(8) or by a
// signal, and then closes the connections and st, the status socket.
func serve(o *options, srv *fs.Server, pool *conn.Pool, log *slog.Logger, sigs chan os.Signal, st *statusServer) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	level := slog.LevelDebug
	if !o.foreground {
		level = slog.LevelInfo // the log is all a background ftpfs shows
	}
	log.Log(context.Background(), level, "mounted", "source", o.source, "mountpoint", o.mountpoint, "pid", os.Getpid())
	defer st.close()
	status := 0
	var sig os.Signal
wait:
	for {
		select {
		case <-done:
			break wait
		case <-usr1:
			// A health report on demand, for operators and the soak test.
			q := srv.Status().Queue
			log.Info("status", "goroutines", runtime.NumGoroutine(), "commands", pool.Commands(),
				"sessions", pool.Health().Sessions, "queued_uploads", q.Uploads, "queued_bytes", q.Bytes, "queued_ops", q.Ops)
		case sig = <-sigs:
			break wait
		}
	}
	if sig != nil {
		log.Info("unmounting", "signal", sig.String())
		if err := srv.Unmount(5 * time.Second); err != nil {
			// Files are still open: a file whose writer has not closed it
			// must not replace the server's; its bytes are kept locally.
			if n := srv.AbandonOpen(); n > 0 {
				log.Warn("files open for writing at shutdown were not uploaded; their bytes are kept locally", "files", n)
				status = 1
			}
			// fusermount3's message ends in newlines (a literal \n in the log).
			log.Warn("unmount failed; detaching lazily", "err", oneLine(err.Error()))
			if err := lazyUnmount(o.mountpoint); err != nil {
				log.Error("lazy unmount failed", "err", oneLine(err.Error()))
				status = 1
			}
		}
	}
	if n := srv.PendingUploads(); n > 0 {
		if drainUploads(srv, o, log, sigs, n) > 0 {
			status = 1
		}
	}
	signal.Stop(sigs)
	signal.Stop(usr1)
	srv.Close()
	pool.Close()
	log.Log(context.Background(), level, "unmounted", "mountpoint", o.mountpoint, "status", status)
	return status
}

// drainUploads waits, once unmounted, for the n uploads still queued in
// writeback mode, up to writeback_wait or another signal; what is left
// stays queued for the next mount. It returns how many were left.
func drainUploads(srv *fs.Server, o *options, log *slog.Logger, sigs chan os.Signal, n int) int {
	log.Info("unmounted; finishing the journaled uploads", "operations", n, "wait", o.writebackWait)
	ctx, cancel := context.WithTimeout(context.Background(), o.writebackWait)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if o.foreground && term.IsTerminal(int(os.Stderr.Fd())) {
		stop := showProgress(srv)
		defer stop()
	}
	left := srv.DrainUploads(ctx)
	if left > 0 {
		log.Warn("operations left in the journal; the next mount of this server and user resumes them, with or without -o writeback",
			"operations", left, "journal", srv.QueueDir())
	}
	return left
}

// showProgress redraws one line on the terminal while ftpfs waits for the
// queue after the unmount; the returned function ends it.
func showProgress(srv *fs.Server) func() {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(os.Stderr, "\r\x1b[K")
				return
			case <-t.C:
			}
			q := srv.Status().Queue
			line := fmt.Sprintf("ftpfs: %d uploads (%s) left", q.Uploads, size(q.Bytes))
			if len(q.Running) > 0 {
				r := q.Running[0]
				line += fmt.Sprintf("; %s %s of %s", r.Path, size(r.Sent), size(r.Size))
			}
			fmt.Fprint(os.Stderr, "\r\x1b[K"+line)
		}
	}()
	return func() { close(done); <-ended }
}
