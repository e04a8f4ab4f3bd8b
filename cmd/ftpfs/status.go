package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
	"github.com/ftpfs/ftpfs/internal/mountinfo"
)

// `ftpfs status MOUNTPOINT` asks a running ftpfs over a Unix socket in a
// runtime directory of the mount's owner: /run/ftpfs for root, else
// /tmp/ftpfs-UID. The socket is named after the mount point; whoever may
// use the mount may ask (the socket is 0666 with allow_other, else 0600).
// No network port is opened.

// statusReport is what the socket answers, as JSON.
type statusReport struct {
	Source     string    `json:"source"`
	Mountpoint string    `json:"mountpoint"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Commands   int64     `json:"commands"`
	Server     struct {
		Sessions    int       `json:"sessions"`
		Reachable   bool      `json:"reachable"`
		LastFailure time.Time `json:"last_failure,omitempty"`
		Failure     string    `json:"failure,omitempty"`
		// UnreachableSince is set while operations fail at once and a
		// probe dials (conn.Health).
		UnreachableSince time.Time `json:"unreachable_since,omitempty"`
	} `json:"server"`
	fs.Status
}

// runtimeDir is where the status sockets of uid's mounts live.
func runtimeDir(uid int) string {
	if uid == 0 {
		return "/run/ftpfs"
	}
	return filepath.Join(os.TempDir(), "ftpfs-"+strconv.Itoa(uid))
}

// statusSocket returns the socket of the mount at mountpoint (absolute)
// owned by uid: a hash keeps it within sun_path's 108 bytes.
func statusSocket(mountpoint string, uid int) string {
	sum := sha256.Sum256([]byte(mountpoint))
	return filepath.Join(runtimeDir(uid), hex.EncodeToString(sum[:8])+".sock")
}

// statusServer answers status requests until closed.
type statusServer struct {
	ln   net.Listener
	path string
	done chan struct{}
}

// startStatus listens on the mount's status socket; a failure is logged
// and leaves the mount without one.
func startStatus(o *options, srv *fs.Server, pool *conn.Pool, log *slog.Logger) *statusServer {
	abs, _ := filepath.Abs(o.mountpoint)
	uid := os.Geteuid()
	dir := runtimeDir(uid)
	if err := ensureRuntimeDir(dir, uid); err != nil {
		log.Warn("no status socket", "err", err)
		return nil
	}
	path := statusSocket(abs, uid)
	os.Remove(path) // one a killed ftpfs left; the mount point is ours now
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("no status socket", "err", err)
		return nil
	}
	mode := os.FileMode(0o600)
	if o.allowOther {
		mode = 0o666
	}
	_ = os.Chmod(path, mode)
	s := &statusServer{ln: ln, path: path, done: make(chan struct{})}
	started := time.Now()
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := statusReport{Source: o.source, Mountpoint: abs, PID: os.Getpid(), Started: started,
				Commands: pool.Commands(), Status: srv.Status()}
			h := pool.Health()
			r.Server.Sessions, r.Server.Reachable = h.Sessions, h.Reachable()
			r.Server.LastFailure, r.Server.Failure = h.LastFailure, h.Failure
			r.Server.UnreachableSince = h.UnreachableSince
			_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_ = json.NewEncoder(c).Encode(r)
			c.Close()
		}
	}()
	return s
}

// close stops answering and removes the socket.
func (s *statusServer) close() {
	if s == nil {
		return
	}
	s.ln.Close()
	<-s.done
	os.Remove(s.path)
}

// ensureRuntimeDir makes dir, owned by uid and not writable by others, or
// checks that it is so: a directory another user controls could hold a
// socket that lies.
func ensureRuntimeDir(dir string, uid int) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != uid || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not a directory of uid %d closed to others", dir, uid)
	}
	return nil
}

// runStatus is `ftpfs status [--watch] MOUNTPOINT`.
func runStatus(args []string) int {
	watch := false
	var mnt string
	for _, a := range args {
		switch {
		case a == "-w" || a == "--watch":
			watch = true
		case a == "-h" || a == "--help":
			fmt.Print("usage: ftpfs status [--watch] MOUNTPOINT\n")
			return 0
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(os.Stderr, "ftpfs status: unknown flag %s\nusage: ftpfs status [--watch] MOUNTPOINT\n", a)
			return 2
		case mnt != "":
			fmt.Fprintf(os.Stderr, "ftpfs status: one MOUNTPOINT only\n")
			return 2
		default:
			mnt = a
		}
	}
	if mnt == "" {
		fmt.Fprintf(os.Stderr, "ftpfs status: need a MOUNTPOINT\nusage: ftpfs status [--watch] MOUNTPOINT\n")
		return 2
	}
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return fail("status: %v", err)
	}
	for {
		r, err := askStatus(abs)
		if err != nil {
			return fail("status: %v", err)
		}
		if watch {
			fmt.Print("\x1b[H\x1b[2J") // home, clear: redraw in place
		}
		printStatus(os.Stdout, r, time.Now())
		if !watch {
			return 0
		}
		time.Sleep(time.Second)
	}
}

// askStatus finds the mount's owner in the mount table and asks its
// ftpfs.
func askStatus(mnt string) (statusReport, error) {
	var r statusReport
	uid, ok := fuseOwner(mnt)
	if !ok {
		return r, fmt.Errorf("%s is not an ftpfs mount point (nothing of type fuse.ftpfs is mounted there)", mnt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", statusSocket(mnt, uid))
	if err != nil {
		return r, fmt.Errorf("cannot reach the ftpfs serving %s: %w", mnt, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return r, fmt.Errorf("reading the status of %s: %w", mnt, err)
	}
	return r, nil
}

// fuseOwner returns the user who mounted the ftpfs mount at mnt, from the
// mount table's superblock options (FUSE's user_id=).
func fuseOwner(mnt string) (int, bool) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return 0, false
	}
	for _, m := range mounts {
		if m.Point != mnt || !strings.HasSuffix(m.FSType, "ftpfs") {
			continue
		}
		if v, ok := m.Option("user_id"); ok {
			if uid, err := strconv.Atoi(v); err == nil {
				return uid, true
			}
		}
	}
	return 0, false
}

// printStatus writes the report for people.
func printStatus(w io.Writer, r statusReport, now time.Time) {
	fmt.Fprintf(w, "ftpfs on %s (%s), pid %d, up %s\n", r.Mountpoint, r.Source, r.PID, now.Sub(r.Started).Round(time.Second))
	reach := "reachable"
	switch {
	case !r.Server.UnreachableSince.IsZero():
		reach = fmt.Sprintf("UNREACHABLE since %s (operations fail at once; probing): %s",
			r.Server.UnreachableSince.Format(time.TimeOnly), r.Server.Failure)
	case !r.Server.Reachable:
		reach = fmt.Sprintf("NOT reachable since %s: %s", r.Server.LastFailure.Format(time.TimeOnly), r.Server.Failure)
	}
	fmt.Fprintf(w, "server:    %s; %d sessions open; %d commands sent\n", reach, r.Server.Sessions, r.Commands)
	mode := "off (close returns once the server has the file)"
	if r.Writeback {
		mode = "on"
	}
	fmt.Fprintf(w, "writeback: %s\n", mode)
	if r.Journal {
		q := r.Queue
		fmt.Fprintf(w, "queue:     %d uploads (%s) and %d other operations waiting; %d done by this mount\n",
			q.Uploads, size(q.Bytes), q.Ops-q.Uploads, q.Done)
		for _, t := range q.Running {
			el := now.Sub(t.Started).Seconds()
			rate := 0.0
			if el > 0 {
				rate = float64(t.Sent) / el
			}
			pct := 100.0
			if t.Size > 0 {
				pct = 100 * float64(t.Sent) / float64(t.Size)
			}
			fmt.Fprintf(w, "uploading: %s  %s of %s (%.0f%%), %s/s\n", t.Path, size(t.Sent), size(t.Size), pct, size(int64(rate)))
		}
		fmt.Fprintf(w, "journal:   %s\n", r.QueueDir)
	}
	fmt.Fprintf(w, "content:   %s\n", contentLine(r.Status))
	if r.Unsaved > 0 || r.Queue.Kept > 0 {
		fmt.Fprintf(w, "unsaved:   %d files kept in %s (%d failed in this mount): see the README, \"When things go wrong\"\n",
			r.Unsaved, r.UnsavedDir, r.Queue.Kept)
	} else {
		fmt.Fprintf(w, "unsaved:   none\n")
	}
}

// contentLine says what the content cache holds and how often it served
// a read.
func contentLine(st fs.Status) string {
	c := st.ContentCache
	if c == nil {
		if st.ContentCacheOff == "" {
			return "off"
		}
		return st.ContentCacheOff
	}
	rate := "no reads yet"
	if n := c.Hits + c.Misses; n > 0 {
		rate = fmt.Sprintf("%d of %d reads from local disk (%.0f%%), %s", c.Hits, n, 100*float64(c.Hits)/float64(n), size(c.HitBytes))
	}
	return fmt.Sprintf("%d files, %s of %s; %s; in %s", c.Files, size(c.Bytes), size(c.Max), rate, c.Dir)
}

// size renders a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
