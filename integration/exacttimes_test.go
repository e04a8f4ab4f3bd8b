package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRsyncExactTimes is issue 14's item 4: vsftpd's LIST gives minutes
// (days for files older than six months), so `rsync -a` of a tree into
// the mount, run again from a fresh mount, sent every file again: the
// times read back differed from the source's. With each file's MDTM
// asked after the listing, the second rsync has nothing to send and stat
// shows the exact second; with -o disable_exact_times the times are
// LIST's again, which the last check shows (and which makes the test
// fail where MDTM is not asked). It runs on vsftpd and on the in-process
// server listing with LIST only; both have MDTM.
func TestRsyncExactTimes(t *testing.T) {
	RequireFUSE(t)
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	for _, kind := range []string{KindVsftpd, KindInProcessLIST} {
		t.Run(kind, func(t *testing.T) {
			src := t.TempDir()
			times := makeTimedTree(t, src, 20)
			root := t.TempDir()
			var srv *Server
			if kind == KindInProcessLIST {
				srv = StartInProcess(t, kind, root)
			} else {
				srv = StartServer(t, kind, root)
			}
			// Owners and groups are the mount's: -a without -o and -g.
			rsync := []string{"-a", "--no-o", "--no-g", "--stats", "-i"}

			m := MountServer(t, srv)
			dst := filepath.Join(m.Dir, "tree") + "/"
			out := Run(t, 2*time.Minute, "rsync", append(rsync, src+"/", dst)...)
			if n := rsyncTransferred(t, out); n != len(times) {
				t.Fatalf("first rsync sent %d files, want %d\n%s", n, len(times), out)
			}
			m.Unmount(t)

			m = MountServer(t, srv)
			dst = filepath.Join(m.Dir, "tree") + "/"
			out = Run(t, time.Minute, "rsync", append(rsync, "-n", src+"/", dst)...)
			if n := rsyncTransferred(t, out); n != 0 {
				t.Errorf("second rsync, from a fresh mount, would send %d files, want 0\n%s", n, out)
			}
			for name, want := range times {
				fi, err := os.Stat(filepath.Join(dst, name))
				if err != nil {
					t.Fatal(err)
				}
				if !fi.ModTime().Equal(want) {
					t.Errorf("stat %s: mtime %v, want %v", name, fi.ModTime().UTC(), want.UTC())
				}
			}
			m.Unmount(t)

			// The option turns it off: LIST's minutes, which rsync sees as
			// changed for every file not modified on a whole minute.
			m = MountServer(t, srv, "disable_exact_times")
			dst = filepath.Join(m.Dir, "tree") + "/"
			out = Run(t, time.Minute, "rsync", append(rsync, "-n", src+"/", dst)...)
			if n := rsyncTransferred(t, out); n != len(times) {
				t.Errorf("rsync with -o disable_exact_times would send %d files, want %d (LIST's times)\n%s", n, len(times), out)
			}
		})
	}
}

// makeTimedTree writes n files of various sizes under root (in two
// subdirectories) with modification times that have seconds: half within
// the last six months (LIST shows minutes), half older (LIST shows a
// day); two are named as vsftpd's "MDTM time path" reads. It returns each
// file's path under root and its time.
func makeTimedTree(t *testing.T, root string, n int) map[string]time.Time {
	t.Helper()
	times := map[string]time.Time{}
	now := time.Now().Truncate(time.Second)
	for i := range n {
		name := filepath.Join(fmt.Sprintf("d%d", i%2), fmt.Sprintf("file %02d.txt", i))
		if i < 2 {
			// vsftpd could read "MDTM 20240315101112 file" as setting
			// the time of "file": these go as "./NAME".
			name = filepath.Join(fmt.Sprintf("d%d", i%2), fmt.Sprintf("20240315101112 file %02d.txt", i))
		}
		p := filepath.Join(root, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(strings.Repeat("x", 100*i+1)), 0o644))
		// Seconds 1 to 59: never a whole minute.
		mt := now.Add(-time.Duration(i+1) * 37 * time.Hour).Truncate(time.Minute).Add(time.Duration(i%59+1) * time.Second)
		if i%2 == 1 {
			mt = mt.AddDate(-1, 0, 0)
		}
		must(t, os.Chtimes(p, mt, mt))
		times[name] = mt
	}
	return times
}

var rsyncFilesTransferred = regexp.MustCompile(`Number of regular files transferred: ([0-9,]+)`)

// rsyncTransferred reads how many files rsync --stats says it sent.
func rsyncTransferred(t *testing.T, out string) int {
	t.Helper()
	m := rsyncFilesTransferred.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no file count in rsync's output:\n%s", out)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
