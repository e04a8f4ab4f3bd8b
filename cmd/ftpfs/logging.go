package main

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
)

// newLogger logs to -o log_file= if given, else to stderr in the
// foreground (w) and to syslog in the background (w nil).
func newLogger(o *options, w io.Writer) (*slog.Logger, func(), error) {
	closeFn := func() {}
	switch {
	case o.logFile != "":
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	case w == nil:
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "ftpfs"); err == nil {
			w, closeFn = sl, func() { sl.Close() }
			break
		}
		// No syslog daemon (containers, minimal systems): the lines that
		// name kept files must go somewhere.
		path, err := fallbackLog(o)
		if err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log file %s (no syslog here): %w", path, err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	routeStdLog(l)
	return l, closeFn, nil
}

// routeStdLog sends what libraries print through the standard log package
// into l. go-fuse logs there, several times per large read on this kernel
// ("trySplice: splice: want 1052688 bytes, max pipe size 1048576"), which
// is noise to a user: such lines are kept for -o debug. A panic that
// go-fuse recovered from in a FUSE handler stays an error.
func routeStdLog(l *slog.Logger) {
	stdlog.SetFlags(0)
	stdlog.SetPrefix("")
	stdlog.SetOutput(stdLogWriter{l})
}

// stdLogWriter turns each write of the standard logger (one message) into
// one slog record.
type stdLogWriter struct{ l *slog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	level := slog.LevelDebug
	if strings.HasPrefix(msg, "panic") {
		level = slog.LevelError
	}
	w.l.Log(context.Background(), level, msg, "from", "library")
	return len(p), nil
}

// syslogWorks reports whether a syslog daemon takes messages here.
func syslogWorks() bool {
	sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "ftpfs")
	if err != nil {
		return false
	}
	sl.Close()
	return true
}

// fallbackLog is the log file of a background ftpfs without syslog:
// ftpfs.log in the cache directory.
func fallbackLog(o *options) (string, error) {
	dir, err := cacheDir(o)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ftpfs.log"), nil
}
