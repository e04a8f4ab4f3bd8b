// Command ftpfs mounts a directory of an FTP server as a local filesystem.
//
//	ftpfs [-f] [-o opt[,opt...]] SOURCE MOUNTPOINT [-o opt[,opt...]]
//
// It parses the command line, finds credentials, checks the server and the
// remote directory, mounts, and unmounts on SIGINT or SIGTERM. Everything
// else lives in the packages fs, conn and cache.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run returns the exit status: 0 after a clean unmount (or, without -f,
// once the background process has mounted), 1 when the mount could not be
// made, 2 for a bad command line.
func run(args []string) int {
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:])
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpfs: %v\nTry 'ftpfs --help'.\n", err)
		return 2
	}
	switch {
	case o.help:
		fmt.Print(usage)
		return 0
	case o.version:
		fmt.Println(versionString(debug.ReadBuildInfo()))
		return 0
	}
	// Catch SIGINT and SIGTERM before mounting: one arriving between the
	// mount and serve would otherwise kill ftpfs and leave a dead mount.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if isDaemonChild() {
		return runChild(o, sigs)
	}
	maskArgv(o)
	user, password, err := credentials(o)
	if err != nil {
		return fail("%v", err)
	}
	if !o.foreground {
		if o.logFile == "" && !syslogWorks() {
			if path, err := fallbackLog(o); err == nil {
				fmt.Fprintf(os.Stderr, "ftpfs: no syslog on this system (/dev/log); logging to %s (or choose with -o log_file=)\n", path)
			}
		}
		return daemonize(o, args, user, password)
	}
	log, closeLog, err := newLogger(o, os.Stderr)
	if err != nil {
		return fail("%v", err)
	}
	defer closeLog()
	srv, pool, err := mount(o, user, password, log)
	if err != nil {
		return fail("%v", err)
	}
	return serve(o, srv, pool, log, sigs, startStatus(o, srv, pool, log))
}

// runChild is the background process: it mounts, tells the parent how that
// went, and serves.
func runChild(o *options, sigs chan os.Signal) int {
	user, password, err := childCredentials()
	if err == nil {
		err = detachChild(o)
	}
	log, closeLog, lerr := newLogger(o, nil)
	if err == nil {
		err = lerr
	}
	var srv *fs.Server
	var pool *conn.Pool
	var st *statusServer
	if err == nil {
		srv, pool, err = mount(o, user, password, log)
	}
	if err == nil {
		// Before the parent returns: `ftpfs status` right after the
		// mount command finds the socket.
		st = startStatus(o, srv, pool, log)
	}
	reportReady(err)
	if err != nil {
		return 1
	}
	defer closeLog()
	return serve(o, srv, pool, log, sigs, st)
}
