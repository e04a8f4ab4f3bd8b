package main

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
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
		} else {
			w = io.Discard // no syslog daemon, and no log_file asked for
		}
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn, nil
}
