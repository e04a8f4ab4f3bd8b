package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refusalDeadline bounds what one refusal may cost an operation: a refusal
// is an answer, and must never be retried as if the server were away
// (retry_timeout is 60 s).
const refusalDeadline = 5 * time.Second

// timed runs fn and fails the test if it took longer than refusalDeadline.
func timed(t *testing.T, what string, fn func()) time.Duration {
	t.Helper()
	start := time.Now()
	fn()
	d := time.Since(start)
	if d > refusalDeadline {
		t.Errorf("%s took %v, more than %v", what, d.Round(time.Millisecond), refusalDeadline)
	}
	return d
}

// shell runs a shell command line with a deadline, failing the test if it
// fails.
func shell(t *testing.T, line string) {
	t.Helper()
	Run(t, 2*refusalDeadline, "sh", "-c", line)
}

// refusedLines counts the log lines that say the server refuses cmd.
func refusedLines(log, cmd string) int {
	return strings.Count(log, `msg="the server refuses `+cmd+";")
}

// TestProftpdDefaultAppend is issue 13's report: on proftpd in its default
// configuration (AllowStoreRestart off: "451 /app.log: Append/Restart not
// permitted, try again"), `echo log2 >> app.log` was retried for 60 s at
// flush and again at release, and failed with EIO; `ls -l` and `cat`
// blocked meanwhile; growing a file with truncate failed the same way.
func TestProftpdDefaultAppend(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "app.log"), []byte("log1\n"), 0o644))
	srv := StartServer(t, KindProFTPdDefault, root)
	m := MountServer(t, srv, "debug")
	f := filepath.Join(m.Dir, "app.log")
	disk := filepath.Join(root, "app.log")

	d := timed(t, "echo log2 >> app.log", func() { shell(t, "echo log2 >> '"+f+"'") })
	t.Logf("echo log2 >> app.log on proftpd's default configuration: %v", d.Round(time.Millisecond))
	mustEqualFile(t, disk, []byte("log1\nlog2\n"))
	timed(t, "ls -l and cat after the refusal", func() {
		Run(t, refusalDeadline, "ls", "-l", m.Dir)
		if got := Run(t, refusalDeadline, "cat", f); got != "log1\nlog2\n" {
			t.Errorf("cat app.log = %q", got)
		}
	})
	d = timed(t, "echo log3 >> app.log", func() { shell(t, "echo log3 >> '"+f+"'") })
	t.Logf("the next append, APPE known refused: %v", d.Round(time.Millisecond))
	mustEqualFile(t, disk, []byte("log1\nlog2\nlog3\n"))

	timed(t, "truncate -s 100 app.log", func() { Run(t, refusalDeadline, "truncate", "-s", "100", f) })
	want := append([]byte("log1\nlog2\nlog3\n"), make([]byte, 100-15)...)
	mustEqualFile(t, disk, want)

	log := m.Log()
	if n := strings.Count(log, `cmd="APPE`); n != 1 {
		t.Errorf("APPE sent %d times, want 1: the refusal is learnt", n)
	}
	if n := refusedLines(log, "APPE"); n != 1 {
		t.Errorf("%d log lines about the refused APPE, want 1", n)
	}
}

// refusedCommands are the commands ftpfs sends that a server may lack or
// refuse by configuration, each as scripts/ftp-server's --refuse takes it,
// with the log line that says ftpfs learnt the refusal ("" where ftpfs
// never sends the command to pyftpdlib, or cannot do without it).
var refusedCommands = []struct {
	spec    string
	learned string // what the log line names as refused
	verb    string // the command as sent, counted in the log; "" if not counted
	most    int    // how often it may be sent
}{
	{"EPSV", "EPSV", "EPSV", 8},
	{"PASV", "", "", 0}, // EPSV is used
	{"MLSD", "MLSD", "MLSD", 1},
	{"MLSD=451", "MLSD", "MLSD", 1},
	{"MLST", "", "MLST", 0}, // never sent: stat comes from the listing
	{"SIZE", "SIZE", "SIZE", 1},
	{"MDTM", "", "MDTM", 0}, // pyftpdlib has MFMT, which is preferred
	{"MFMT", "MFMT", "MFMT", 1},
	{"SITE CHMOD", "SITE CHMOD", "SITE CHMOD", 1},
	{"APPE", "APPE", "APPE", 1},
	{"APPE=451", "APPE", "APPE", 1},
	{"REST", "REST", "REST", 1},
	{"REST=451", "REST", "REST", 1},
	{"PRET", "PRET", "PRET", 1}, // the library would send it before every transfer
	{"OPTS", "OPTS UTF8", "OPTS", 1},
	{"FEAT", "", "", 0}, // the library asks at each login; no FEAT means no MLSD, MFMT, UTF8
}

// TestRefusedCommands runs reads and writes on pyftpdlib refusing, in
// turn, each command of refusedCommands: each operation must work (another
// way where the command is refused), within refusalDeadline, with the
// refusal learnt once and logged once.
func TestRefusedCommands(t *testing.T) {
	RequireFUSE(t)
	for _, rc := range refusedCommands {
		t.Run(strings.ReplaceAll(rc.spec, " ", "_"), func(t *testing.T) {
			root := t.TempDir()
			data := randomBytes(21, 300<<10)
			must(t, os.WriteFile(filepath.Join(root, "data"), data, 0o644))
			must(t, os.Mkdir(filepath.Join(root, "sub"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "sub", "x"), []byte("x\n"), 0o644))
			srv := StartServer(t, KindPyftpdlib, root, WithRefuse(rc.spec))
			m := MountServer(t, srv, "debug")
			d := timed(t, "the read and write cases", func() { refusalCases(t, m, root, data) })
			t.Logf("the read and write cases with %s refused: %v", rc.spec, d.Round(time.Millisecond))
			log := m.Log()
			if rc.learned != "" {
				if n := refusedLines(log, rc.learned); n != 1 {
					t.Errorf("%d log lines about the refused %s, want 1\n%s", n, rc.learned, tail(log, 40))
				}
			}
			if rc.verb != "" {
				if n := strings.Count(log, `cmd="`+rc.verb); n > rc.most {
					t.Errorf("%s sent %d times, want at most %d", rc.verb, n, rc.most)
				}
			}
		})
	}
}

// refusalCases reads and writes through m, serving root, which holds data
// as "data" and sub/x.
func refusalCases(t *testing.T, m *Mount, root string, data []byte) {
	t.Helper()
	out := Run(t, refusalDeadline, "ls", "-la", m.Dir)
	if !strings.Contains(out, "data") || !strings.Contains(out, "sub") {
		t.Errorf("ls -la shows:\n%s", out)
	}
	if got := Run(t, refusalDeadline, "cat", filepath.Join(m.Dir, "sub", "x")); got != "x\n" {
		t.Errorf("cat sub/x = %q", got)
	}
	// A read in the middle, on a fresh handle: REST, or the file read from
	// its start where REST is refused.
	f, err := os.Open(filepath.Join(m.Dir, "data"))
	must(t, err)
	buf := make([]byte, 1000)
	if n, err := f.ReadAt(buf, 200000); err != nil || !bytes.Equal(buf[:n], data[200000:201000]) {
		t.Errorf("read at 200000: %d, %v; same bytes: %v", n, err, bytes.Equal(buf[:n], data[200000:201000]))
	}
	f.Close()
	if got, err := os.ReadFile(filepath.Join(m.Dir, "data")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read data: %d bytes, %v", len(got), err)
	}

	nf := filepath.Join(m.Dir, "new")
	must(t, os.WriteFile(nf, []byte("one\n"), 0o644))
	mustEqualFile(t, filepath.Join(root, "new"), []byte("one\n"))
	shell(t, "echo two >> '"+nf+"'")
	mustEqualFile(t, filepath.Join(root, "new"), []byte("one\ntwo\n"))
	shell(t, "echo three >> '"+nf+"'")
	mustEqualFile(t, filepath.Join(root, "new"), []byte("one\ntwo\nthree\n"))
	must(t, os.Truncate(nf, 20))
	mustEqualFile(t, filepath.Join(root, "new"), append([]byte("one\ntwo\nthree\n"), make([]byte, 6)...))
	must(t, os.Chmod(nf, 0o600))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, os.Chtimes(nf, mtime, mtime))
	if fi, err := os.Stat(nf); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime after utimens: %v, %v", fi, err)
	}
	must(t, os.Mkdir(filepath.Join(m.Dir, "d"), 0o755))
	must(t, os.Rename(nf, filepath.Join(m.Dir, "d", "moved")))
	mustEqualFile(t, filepath.Join(root, "d", "moved"), append([]byte("one\ntwo\nthree\n"), make([]byte, 6)...))
	must(t, os.RemoveAll(filepath.Join(m.Dir, "d")))
	if _, err := os.Stat(filepath.Join(root, "d")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("d still on the server: %v", err)
	}
}

// TestDeadSessionRetried: vsftpd ends a session with "500 OOPS: ..." and
// closes the connection (its privileged helper failed); the reply speaks
// for the session, not for the command, which a new session does.
func TestDeadSessionRetried(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindPyftpdlib, root, WithRefuse("MKD=oops-once,DELE=oops-once"))
	m := MountServer(t, srv, "debug")
	timed(t, "mkdir after an OOPS", func() { must(t, os.Mkdir(filepath.Join(m.Dir, "d"), 0o755)) })
	if fi, err := os.Stat(filepath.Join(root, "d")); err != nil || !fi.IsDir() {
		t.Errorf("the directory is not on the server: %v", err)
	}
	must(t, os.WriteFile(filepath.Join(m.Dir, "f"), []byte("f\n"), 0o644))
	timed(t, "rm after an OOPS", func() { must(t, os.Remove(filepath.Join(m.Dir, "f"))) })
	if _, err := os.Stat(filepath.Join(root, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still on the server: %v", err)
	}
	if n := strings.Count(m.Log(), `cmd="MKD`); n != 2 {
		t.Errorf("MKD sent %d times, want 2 (once more on a new session)", n)
	}
}

// TestMountFailsWhenRootUnlisted: a server that refuses both MLSD and LIST
// cannot show the mount's root; the mount fails with the server's reply
// instead of showing an empty directory that fails every look.
func TestMountFailsWhenRootUnlisted(t *testing.T) {
	RequireFUSE(t)
	srv := StartServer(t, KindPyftpdlib, t.TempDir(), WithRefuse("MLSD,LIST"))
	pw := filepath.Join(t.TempDir(), "pw")
	must(t, os.WriteFile(pw, []byte(srv.Password+"\n"), 0o600))
	mnt := t.TempDir()
	code, out := runFtpfs(t, nil, "-f", srv.Host+":", mnt, "-o",
		"port="+itoa(srv.Port)+",user="+srv.User+",password_file="+pw+",retry_timeout=5")
	if code == 0 {
		t.Fatalf("the mount succeeded; output:\n%s", out)
	}
	if !strings.Contains(out, "500 LIST: command not understood") {
		t.Errorf("the message does not give the server's reply:\n%s", out)
	}
	if IsMounted(mnt) {
		t.Errorf("%s left mounted", mnt)
		detach(mnt)
	}
}

// TestPermissionDeniedIsEACCES: vsftpd answers RETR of a mode-000 file
// with "550 Failed to open file." and CWD into a mode-000 directory with
// "550 Failed to change directory."; pure-ftpd says "550 Can't check for
// file existence" or the like. A name its parent lists is EACCES, not
// ENOENT; a name it does not list stays ENOENT.
func TestPermissionDeniedIsEACCES(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindVsftpd, KindPureFTPd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			must(t, os.WriteFile(filepath.Join(root, "locked"), []byte("secret\n"), 0o644))
			must(t, os.Mkdir(filepath.Join(root, "lockeddir"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "lockeddir", "f"), []byte("f\n"), 0o644))
			srv := StartServer(t, kind, root)
			must(t, os.Chmod(filepath.Join(root, "locked"), 0))
			must(t, os.Chmod(filepath.Join(root, "lockeddir"), 0))
			t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "lockeddir"), 0o755) })
			m := MountServer(t, srv, "debug")
			_, err := os.ReadFile(filepath.Join(m.Dir, "locked"))
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("cat of a mode-000 file: %v, want EACCES", err)
			}
			_, err = os.ReadDir(filepath.Join(m.Dir, "lockeddir"))
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("ls of a mode-000 directory: %v, want EACCES", err)
			}
			_, err = os.ReadFile(filepath.Join(m.Dir, "lockeddir", "f"))
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("cat of a file in a mode-000 directory: %v, want EACCES", err)
			}
			_, err = os.ReadFile(filepath.Join(m.Dir, "missing"))
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("cat of a missing file: %v, want ENOENT", err)
			}
			// A file removed on the server while its listing is cached is
			// missing, not refused.
			must(t, os.WriteFile(filepath.Join(root, "gone"), []byte("x"), 0o644))
			must(t, os.Chmod(filepath.Join(root, "gone"), 0o666))
			m2 := MountServer(t, srv)
			if _, err := os.Stat(filepath.Join(m2.Dir, "gone")); err != nil {
				t.Fatal(err)
			}
			must(t, os.Remove(filepath.Join(root, "gone")))
			time.Sleep(1100 * time.Millisecond) // past the listing's second of grace
			_, err = os.ReadFile(filepath.Join(m2.Dir, "gone"))
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("cat of a file removed on the server: %v, want ENOENT", err)
			}
			if t.Failed() {
				t.Log(tail(m.Log(), 30))
			}
		})
	}
}

// TestLongPath: pyftpdlib refuses a command line over 2,048 bytes ("500
// Command too long.", then the rest of the line answered as one more
// command). A tree deeper than that works, on it and on proftpd: long
// paths are sent relative to their parent after CWD, never refused as
// EOPNOTSUPP.
func TestLongPath(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPyftpdlib, KindProFTPd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartServer(t, kind, root)
			m := MountServer(t, srv, "debug")
			rel := ""
			for i := 0; i < 12; i++ {
				rel = filepath.Join(rel, strings.Repeat(string(rune('a'+i)), 200))
			}
			long := filepath.Join(m.Dir, rel)
			timed(t, "mkdir -p past 2,048 bytes", func() { Run(t, refusalDeadline, "mkdir", "-p", long) })
			if fi, err := os.Stat(filepath.Join(root, rel)); err != nil || !fi.IsDir() {
				t.Fatalf("the server has no %d-byte path: %v", len(rel), err)
			}
			f := filepath.Join(long, "f")
			must(t, os.WriteFile(f, []byte("deep\n"), 0o644))
			shell(t, "echo more >> '"+f+"'")
			mustEqualFile(t, filepath.Join(root, rel, "f"), []byte("deep\nmore\n"))
			if got := Run(t, refusalDeadline, "cat", f); got != "deep\nmore\n" {
				t.Errorf("cat = %q", got)
			}
			must(t, os.Rename(f, filepath.Join(long, "g")))
			if out := Run(t, refusalDeadline, "ls", long); strings.TrimSpace(out) != "g" {
				t.Errorf("ls = %q", out)
			}
			timed(t, "rm -r of the tree", func() { must(t, os.RemoveAll(filepath.Join(m.Dir, strings.Repeat("a", 200)))) })
			if _, err := os.Stat(filepath.Join(root, strings.Repeat("a", 200))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the tree is still on the server: %v", err)
			}
			if t.Failed() {
				t.Log(tail(m.Log(), 30))
			}
		})
	}
}
