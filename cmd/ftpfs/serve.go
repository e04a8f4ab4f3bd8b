package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
)

// serve waits for the filesystem to be unmounted, by umount(8) or by a
// signal, and then closes the connections.
func serve(o *options, srv *fs.Server, pool *conn.Pool, log *slog.Logger, sigs chan os.Signal) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	log.Debug("mounted", "source", o.source, "mountpoint", o.mountpoint)
	status := 0
	var sig os.Signal
wait:
	for {
		select {
		case <-done:
			break wait
		case <-usr1:
			// A health report on demand, for operators and the soak test.
			log.Info("status", "goroutines", runtime.NumGoroutine(), "commands", pool.Commands())
		case sig = <-sigs:
			break wait
		}
	}
	if sig != nil {
		log.Info("unmounting", "signal", sig.String())
		if err := srv.Unmount(5 * time.Second); err != nil {
			// Files are still open: what they wrote is uploaded now (or
			// kept locally) before the mount goes away under them.
			if n := srv.SaveAll(context.Background()); n > 0 {
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
	pool.Close()
	return status
}

// drainUploads waits, once unmounted, for the n uploads still queued in
// writeback mode, up to writeback_wait or another signal; what is left
// stays queued for the next mount. It returns how many were left.
func drainUploads(srv *fs.Server, o *options, log *slog.Logger, sigs chan os.Signal, n int) int {
	log.Info("unmounted; finishing the queued uploads", "files", n, "wait", o.writebackWait)
	ctx, cancel := context.WithTimeout(context.Background(), o.writebackWait)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	left := srv.DrainUploads(ctx)
	if left > 0 {
		log.Warn("uploads left queued; the next mount of this server with -o writeback resumes them",
			"files", left, "queue", srv.QueueDir())
	}
	return left
}
