package conn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// listNow is the "now" of the table tests: Nov 25 19:43 in a LIST line
// without a year is then yesterday evening.
var listNow = time.Date(2026, time.November, 26, 12, 0, 0, 0, time.UTC)

func at(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// nov25 is the time most sample lines carry.
var nov25 = at(2026, time.November, 25, 19, 43, 0)

// lineCase is one listing line and what the parser must make of it: an
// entry (want != nil), a silent skip (want == nil, !reject) or a counted
// rejection.
type lineCase struct {
	name   string
	line   string
	want   *Entry
	reject bool
}

func file(name string, size int64, t time.Time, perm fs.FileMode, hasPerm bool) *Entry {
	return &Entry{Name: name, Type: TypeFile, Size: size, ModTime: t, HasTime: !t.IsZero(), Perm: perm, HasPerm: hasPerm}
}

func dir(name string, t time.Time, perm fs.FileMode, hasPerm bool) *Entry {
	return &Entry{Name: name, Type: TypeDir, ModTime: t, HasTime: !t.IsZero(), Perm: perm, HasPerm: hasPerm}
}

func link(name, target string, size int64, t time.Time, perm fs.FileMode, hasPerm bool) *Entry {
	e := file(name, size, t, perm, hasPerm)
	e.Type, e.Target = TypeSymlink, target
	return e
}

func other(name string, size int64, t time.Time, perm fs.FileMode) *Entry {
	e := file(name, size, t, perm, true)
	e.Type = TypeOther
	return e
}

// withUnique sets the MLSD unique fact of e.
func withUnique(e *Entry, u string) *Entry { e.Unique = u; return e }

var mlsdCases = []lineCase{
	// proftpd (mod_facts): lower-case facts, upper-case UNIX.* facts, slink.
	{name: "proftpd file", line: "modify=20261125194300;perm=adfrw;size=12;type=file;unique=FD00U2A7B;UNIX.group=1000;UNIX.groupname=user;UNIX.mode=0644;UNIX.owner=1000;UNIX.ownername=user; hello.txt",
		want: withUnique(file("hello.txt", 12, nov25, 0o644, true), "FD00U2A7B")},
	{name: "proftpd dir setgid", line: "modify=20261125194300;perm=flcdmpe;type=dir;unique=FD00U2A7C;UNIX.group=1000;UNIX.mode=02775;UNIX.owner=1000; shared",
		want: withUnique(dir("shared", nov25, 0o775|fs.ModeSetgid, true), "FD00U2A7C")},
	{name: "proftpd slink", line: "modify=20261125194300;perm=adfr;size=11;type=OS.unix=slink:/srv/target;unique=FD00U2A7D;UNIX.mode=0777;UNIX.owner=1000; link",
		want: withUnique(link("link", "/srv/target", 11, nov25, 0o777, true), "FD00U2A7D")},
	{name: "proftpd slink target with spaces", line: "modify=20261125194300;size=14;type=OS.unix=slink:/srv/my target;UNIX.mode=0777; my link",
		want: link("my link", "/srv/my target", 14, nov25, 0o777, true)},
	{name: "proftpd slink upper case", line: "type=OS.UNIX=SLINK:Target;modify=20261125194300; l",
		want: link("l", "Target", 0, nov25, 0, false)},
	{name: "proftpd cdir with full path", line: "modify=20261125194300;perm=flcdmpe;type=cdir;unique=FD00U2A7E;UNIX.mode=0755; /home/user"},
	{name: "proftpd pdir", line: "modify=20261125194300;perm=flcdmpe;type=pdir;unique=FD00U2A7F;UNIX.mode=0755; .."},
	// pure-ftpd: UNIX.mode, UNIX.uid/gid, unique, sizd on directories.
	{name: "pure-ftpd file", line: "type=file;size=12;modify=20261125194300;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a; hello.txt",
		want: withUnique(file("hello.txt", 12, nov25, 0o644, true), "803g2a")},
	{name: "pure-ftpd cdir", line: "type=cdir;sizd=4096;modify=20261125194300;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000;unique=803g29; ."},
	{name: "pure-ftpd dir sizd ignored", line: "type=dir;sizd=4096;modify=20261125194300;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000;unique=803g2b; sub dir",
		want: withUnique(dir("sub dir", nov25, 0o755, true), "803g2b")},
	// pyftpdlib: lower-case unix.mode, perm letters, no fraction.
	{name: "pyftpdlib file", line: "type=file;size=12;perm=r;modify=20261125194300; hello.txt",
		want: file("hello.txt", 12, nov25, 0, false)},
	{name: "pyftpdlib file with unix facts", line: "type=file;perm=r;size=12;modify=20261125194300;unix.mode=0644;unix.uid=1000;unix.gid=1000;unique=801g2a; hello.txt",
		want: withUnique(file("hello.txt", 12, nov25, 0o644, true), "801g2a")},
	{name: "pyftpdlib dir", line: "type=dir;perm=elr;modify=20261125194300;unix.mode=0755; docs",
		want: dir("docs", nov25, 0o755, true)},
	// RFC 3659 details and quirks of no particular server.
	{name: "symlink without target", line: "type=OS.unix=symlink;size=7;modify=20261125194300; l",
		want: link("l", "", 7, nov25, 0, false)},
	{name: "chardev is other", line: "type=OS.unix=chardev;modify=20261125194300; null",
		want: &Entry{Name: "null", Type: TypeOther, ModTime: nov25, HasTime: true}},
	{name: "facts in any case with fraction", line: "Type=FILE;Size=5;Modify=20261125194300.123;Unix.Mode=755; x",
		want: file("x", 5, nov25.Add(123*time.Millisecond), 0o755, true)},
	{name: "leap second", line: "type=file;size=1;modify=20161231235960; leap",
		want: file("leap", 1, at(2017, time.January, 1, 0, 0, 0), 0, false)},
	{name: "setuid sticky octal", line: "type=file;size=1;unix.mode=7755; suid",
		want: file("suid", 1, time.Time{}, 0o755|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky, true)},
	{name: "fact names fold only ASCII", line: "type=file;\u017fize=1; a", want: file("a", 0, time.Time{}, 0, false)},
	{name: "no modify no size", line: "type=file; bare", want: file("bare", 0, time.Time{}, 0, false)},
	{name: "name with spaces semicolons equals trailing space", line: "type=file;size=1; a; b=c  d ",
		want: file("a; b=c  d ", 1, time.Time{}, 0, false)},
	{name: "name with leading space", line: "type=file;size=1;  lead", want: file(" lead", 1, time.Time{}, 0, false)},
	{name: "non-UTF-8 name", line: "type=file;size=1; caf\xe9 \xff", want: file("caf\xe9 \xff", 1, time.Time{}, 0, false)},
	{name: "dir with bad size ignored", line: "type=dir;size=abc; d", want: dir("d", time.Time{}, 0, false)},
	{name: "dot name skipped", line: "type=dir;modify=20261125194300; ."},
	{name: "dotdot name skipped", line: "type=dir;modify=20261125194300; .."},
	{name: "dot name with bad fact still rejected", line: "type=dir;modify=2026; .", reject: true},
	{name: "no space after facts", line: "type=file;size=12;hello.txt", reject: true},
	{name: "space without semicolon", line: "type=file;size=12 hello.txt", reject: true},
	{name: "no facts", line: " hello.txt", reject: true},
	{name: "missing type", line: "size=12;modify=20261125194300; a", reject: true},
	{name: "empty type", line: "type=;size=12; a", reject: true},
	{name: "bad size", line: "type=file;size=12k; a", reject: true},
	{name: "negative size", line: "type=file;size=-1; a", reject: true},
	{name: "size overflow", line: "type=file;size=9223372036854775808; a", reject: true},
	{name: "short modify", line: "type=file;modify=2026112519; a", reject: true},
	{name: "modify month 13", line: "type=file;modify=20261325194300; a", reject: true},
	{name: "modify Feb 30", line: "type=file;modify=20260230194300; a", reject: true},
	{name: "modify bad fraction", line: "type=file;modify=20261125194300.; a", reject: true},
	{name: "bad unix.mode", line: "type=file;unix.mode=0999; a", reject: true},
	{name: "fact without value", line: "type=file;garbage; a", reject: true},
	{name: "empty fact", line: "type=file;;size=1; a", reject: true},
	{name: "empty name", line: "type=file;size=1; ", reject: true},
	{name: "name with slash", line: "type=file;size=1; a/b", reject: true},
	{name: "name with NUL", line: "type=file;size=1; a\x00b", reject: true},
	{name: "LIST line in MLSD", line: "-rw-r--r--    1 1000     1000           12 Nov 25 19:43 hello.txt", reject: true},
}

var listCases = []lineCase{
	// vsftpd: numeric ids (or "ftp ftp" with hide_ids), zero-padded days,
	// no "total" line.
	{name: "vsftpd dir", line: "drwxr-xr-x    2 1000     1000         4096 Nov 25 19:43 dir name",
		want: &Entry{Name: "dir name", Type: TypeDir, Size: 4096, ModTime: nov25, HasTime: true, Perm: 0o755, HasPerm: true}},
	{name: "vsftpd old file", line: "-rw-r--r--    1 1000     1000         1234 Jan 03  2024 file",
		want: file("file", 1234, at(2024, time.January, 3, 0, 0, 0), 0o644, true)},
	{name: "vsftpd symlink", line: "lrwxrwxrwx    1 1000     1000            7 Nov 25 19:43 link -> target",
		want: link("link", "target", 7, nov25, 0o777, true)},
	{name: "vsftpd hide_ids", line: "-rw-r--r--    1 ftp      ftp            12 Nov 25 19:43 hello.txt",
		want: file("hello.txt", 12, nov25, 0o644, true)},
	{name: "vsftpd inner and trailing spaces", line: "-rw-r--r--    1 ftp      ftp            12 Nov 25 19:43 a  b  ",
		want: file("a  b  ", 12, nov25, 0o644, true)},
	{name: "vsftpd leading space", line: "-rw-r--r--    1 ftp      ftp            12 Nov 25 19:43  lead",
		want: file(" lead", 12, nov25, 0o644, true)},
	{name: "vsftpd non-UTF-8 and unicode", line: "-rw-r--r--    1 ftp      ftp            12 Nov 25 19:43 caf\xe9 ☃",
		want: file("caf\xe9 ☃", 12, nov25, 0o644, true)},
	{name: "vsftpd name that looks like a date", line: "-rw-r--r--    1 ftp      ftp            12 Nov 25 19:43 Dec 01 10:00 x",
		want: file("Dec 01 10:00 x", 12, nov25, 0o644, true)},
	// pure-ftpd: wider columns, "." and ".." listed.
	{name: "pure-ftpd file", line: "-rw-r--r--    1 1000       1000               12 Nov 25 19:43 hello.txt",
		want: file("hello.txt", 12, nov25, 0o644, true)},
	{name: "pure-ftpd dot", line: "drwxr-xr-x    2 1000       1000             4096 Nov 25 19:43 ."},
	{name: "pure-ftpd dotdot", line: "drwxr-xr-x    3 1000       1000             4096 Nov 25 19:43 .."},
	{name: "pure-ftpd total", line: "total 8"},
	// proftpd: named owners, "total", symlink targets.
	{name: "proftpd file", line: "-rw-r--r--   1 ftp      ftp            12 Nov 25 19:43 hello.txt",
		want: file("hello.txt", 12, nov25, 0o644, true)},
	{name: "proftpd symlink with spaces", line: "lrwxrwxrwx   1 ftp      ftp            14 Nov 25 19:43 my link -> /srv/my target",
		want: link("my link", "/srv/my target", 14, nov25, 0o777, true)},
	{name: "proftpd symlink arrow in target", line: "lrwxrwxrwx   1 ftp      ftp            14 Nov 25 19:43 a -> b -> c",
		want: link("a", "b -> c", 14, nov25, 0o777, true)},
	{name: "proftpd total", line: "total 123456"},
	// pyftpdlib: "%b %d" (zero-padded day), "%b %d  %Y".
	{name: "pyftpdlib recent", line: "-rw-r--r--   1 user     user           12 Nov 05 19:43 hello.txt",
		want: file("hello.txt", 12, at(2026, time.November, 5, 19, 43, 0), 0o644, true)},
	{name: "pyftpdlib old", line: "-rw-r--r--   1 user     user           12 Jan 03  2024 old.txt",
		want: file("old.txt", 12, at(2024, time.January, 3, 0, 0, 0), 0o644, true)},
	{name: "pyftpdlib dir", line: "drwxr-xr-x   2 user     user         4096 Nov 25 19:43 docs",
		want: &Entry{Name: "docs", Type: TypeDir, Size: 4096, ModTime: nov25, HasTime: true, Perm: 0o755, HasPerm: true}},
	// busybox ftpd (busybox ls): space-padded day, device numbers.
	{name: "busybox file", line: "-rw-r--r--    1 0        0               12 Nov  5 19:43 hello.txt",
		want: file("hello.txt", 12, at(2026, time.November, 5, 19, 43, 0), 0o644, true)},
	{name: "busybox old file", line: "-rw-r--r--    1 0        0               12 Jan  3  2024 old",
		want: file("old", 12, at(2024, time.January, 3, 0, 0, 0), 0o644, true)},
	{name: "busybox char device", line: "crw-rw-rw-    1 0        0           1,   3 Nov 25 19:43 null",
		want: other("null", 0, nov25, 0o666)},
	// GNU ls (behind servers that run ls, and proftpd's own ls emulation).
	{name: "GNU ls block device no space", line: "brw-rw---- 1 root disk 8,0 Nov 25 19:43 sda",
		want: other("sda", 0, nov25, 0o660)},
	{name: "GNU ls fifo", line: "prw-r--r-- 1 u g 0 Nov 25 19:43 fifo", want: other("fifo", 0, nov25, 0o644)},
	{name: "GNU ls socket", line: "srwxrwxrwx 1 u g 0 Nov 25 19:43 sock", want: other("sock", 0, nov25, 0o777)},
	{name: "GNU ls ACL marker", line: "-rw-r--r--+ 1 alice staff 12 Nov 25 19:43 acl.txt", want: file("acl.txt", 12, nov25, 0o644, true)},
	{name: "GNU ls SELinux marker", line: "-rw-r--r--. 1 alice staff 12 Nov 25 19:43 se.txt", want: file("se.txt", 12, nov25, 0o644, true)},
	{name: "macOS ls xattr marker", line: "-rw-r--r--@ 1 alice staff 12 Nov 25 19:43 x.txt", want: file("x.txt", 12, nov25, 0o644, true)},
	{name: "GNU ls setuid", line: "-rwsr-xr-x 1 root root 12 Nov 25 19:43 su", want: file("su", 12, nov25, 0o755|fs.ModeSetuid, true)},
	{name: "GNU ls setuid no exec", line: "-rwSr--r-- 1 root root 12 Nov 25 19:43 s", want: file("s", 12, nov25, 0o644|fs.ModeSetuid, true)},
	{name: "GNU ls setgid", line: "drwxr-sr-x 2 root root 4096 Nov 25 19:43 g",
		want: &Entry{Name: "g", Type: TypeDir, Size: 4096, ModTime: nov25, HasTime: true, Perm: 0o755 | fs.ModeSetgid, HasPerm: true}},
	{name: "GNU ls sticky", line: "drwxrwxrwt 2 root root 4096 Nov 25 19:43 tmp",
		want: &Entry{Name: "tmp", Type: TypeDir, Size: 4096, ModTime: nov25, HasTime: true, Perm: 0o777 | fs.ModeSticky, HasPerm: true}},
	{name: "GNU ls sticky no exec", line: "drwxr-xr-T 2 root root 4096 Nov 25 19:43 t",
		want: &Entry{Name: "t", Type: TypeDir, Size: 4096, ModTime: nov25, HasTime: true, Perm: 0o754 | fs.ModeSticky, HasPerm: true}},
	{name: "ls -o no group column", line: "-rw-r--r-- 1 owner 1234 Jan  3  2024 file",
		want: file("file", 1234, at(2024, time.January, 3, 0, 0, 0), 0o644, true)},
	{name: "group named like a month", line: "-rw-r--r-- 1 1000 jan 12 Nov 25 19:43 f", want: file("f", 12, nov25, 0o644, true)},
	{name: "huge size", line: "-rw-r--r-- 1 u g 9223372036854775807 Nov 25 19:43 huge",
		want: file("huge", 1<<63-1, nov25, 0o644, true)},
	{name: "month in upper case", line: "-rw-r--r-- 1 u g 1 NOV 25 19:43 up", want: file("up", 1, nov25, 0o644, true)},
	{name: "regular file named with arrow", line: "-rw-r--r-- 1 u g 1 Nov 25 19:43 a -> b", want: file("a -> b", 1, nov25, 0o644, true)},
	{name: "symlink without arrow", line: "lrwxrwxrwx 1 u g 1 Nov 25 19:43 dangling", want: link("dangling", "", 1, nov25, 0o777, true)},
	// IIS in its default MS-DOS style.
	{name: "IIS dir", line: "11-25-26  07:43PM       <DIR>          dir name",
		want: dir("dir name", nov25, 0, false)},
	{name: "IIS file", line: "11-25-26  07:43PM                 1234 file name",
		want: file("file name", 1234, nov25, 0, false)},
	{name: "IIS four-digit year", line: "11-25-2026  07:43AM                 1234 f",
		want: file("f", 1234, at(2026, time.November, 25, 7, 43, 0), 0, false)},
	{name: "IIS 24-hour", line: "11-25-26  19:43                 1234 f", want: file("f", 1234, nov25, 0, false)},
	{name: "IIS midnight", line: "11-25-26  12:05AM                 1 f", want: file("f", 1, at(2026, time.November, 25, 0, 5, 0), 0, false)},
	{name: "IIS noon", line: "11-25-26  12:30PM                 1 f", want: file("f", 1, at(2026, time.November, 25, 12, 30, 0), 0, false)},
	{name: "IIS 1999", line: "01-02-99  10:00AM                 1 f", want: file("f", 1, at(1999, time.January, 2, 10, 0, 0), 0, false)},
	{name: "IIS file spaces", line: "11-25-26  07:43PM                 1234  a  b  ",
		want: file(" a  b  ", 1234, nov25, 0, false)},
	{name: "IIS dir trailing spaces", line: "11-25-26  07:43PM       <DIR>          a b ",
		want: dir("a b ", nov25, 0, false)},
	// Lines no parser understands.
	{name: "garbage", line: "hello world", reject: true},
	{name: "bad month", line: "drwxr-xr-x 2 u g 4096 Foo 25 19:43 x", reject: true},
	{name: "bad perm letter", line: "drwxr-xr-q 2 u g 4096 Nov 25 19:43 x", reject: true},
	{name: "bad type letter", line: "xrwxr-xr-x 2 u g 4096 Nov 25 19:43 x", reject: true},
	{name: "no name", line: "-rw-r--r-- 1 u g 12 Nov 25 19:43", reject: true},
	{name: "no name but a space", line: "-rw-r--r-- 1 u g 12 Nov 25 19:43 ", reject: true},
	{name: "Feb 30", line: "-rw-r--r-- 1 u g 12 Feb 30  2024 x", reject: true},
	{name: "hour 25", line: "-rw-r--r-- 1 u g 12 Nov 25 25:43 x", reject: true},
	{name: "size overflow", line: "-rw-r--r-- 1 u g 9223372036854775808 Nov 25 19:43 x", reject: true},
	{name: "long-iso time style", line: "-rw-r--r-- 1 u g 12 2026-11-25 19:43 x", reject: true},
	{name: "name with slash", line: "-rw-r--r-- 1 u g 12 Nov 25 19:43 a/b", reject: true},
	{name: "symlink name with slash", line: "lrwxrwxrwx 1 u g 12 Nov 25 19:43 a/b -> c", reject: true},
	{name: "IIS bad date", line: "13-45-26  07:43PM       <DIR>          x", reject: true},
	{name: "IIS bad size", line: "11-25-26  07:43PM       12k x", reject: true},
	{name: "IIS no name", line: "11-25-26  07:43PM       <DIR>", reject: true},
	{name: "IIS bad clock", line: "11-25-26  13:43PM       <DIR>   x", reject: true},
	{name: "MLSD line in LIST", line: "type=file;size=12; hello.txt", reject: true},
	{name: "total with junk", line: "total 12 files", reject: true},
}

// parseLines runs a parser over lines joined by "\r\n".
func parseLines(format listFormat, now time.Time, max int, lines ...string) (*listParser, error) {
	p := newListParser(format, now, max)
	if _, err := p.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
		return p, err
	}
	return p, p.Close()
}

func runLineCases(t *testing.T, format listFormat, cases []lineCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseLines(format, listNow, 10, c.line)
			if err != nil {
				t.Fatal(err)
			}
			var want []Entry
			if c.want != nil {
				want = []Entry{*c.want}
			}
			checkEntries(t, p.Entries(), want)
			n, sample := p.Rejected()
			if wantN := btoi(c.reject); n != wantN {
				t.Errorf("rejected %d lines (sample %q), want %d", n, sample, wantN)
			}
			if c.reject && sample != c.line {
				t.Errorf("sample %q, want the line", sample)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestListMLSDLines(t *testing.T) { runLineCases(t, formatMLSD, mlsdCases) }
func TestListLISTLines(t *testing.T) { runLineCases(t, formatLIST, listCases) }

func checkEntries(t *testing.T, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\n got %s\nwant %s", len(got), len(want), fmtEntries(got), fmtEntries(want))
	}
	for i := range got {
		if !sameEntry(got[i], want[i]) {
			t.Errorf("entry %d:\n got %s\nwant %s", i, fmtEntry(got[i]), fmtEntry(want[i]))
		}
	}
}

func sameEntry(a, b Entry) bool {
	ta, tb := a.ModTime, b.ModTime
	a.ModTime, b.ModTime = time.Time{}, time.Time{}
	a.TimeGrain, b.TimeGrain = 0, 0 // TestListTimeGrain
	return a == b && ta.Equal(tb) && ta.Location() == tb.Location()
}

func fmtEntry(e Entry) string {
	return fmt.Sprintf("{%q %v size=%d time=%v(%v) perm=%v(%v) target=%q}",
		e.Name, e.Type, e.Size, e.ModTime.Format(time.RFC3339Nano), e.HasTime, e.Perm, e.HasPerm, e.Target)
}

func fmtEntries(es []Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmtEntry(e)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestListYearRollover checks where LIST dates without a year land around
// New Year, for a fixed now.
func TestListYearRollover(t *testing.T) {
	cases := []struct {
		name string
		now  time.Time
		date string
		want time.Time
	}{
		{"just after New Year, late December", at(2027, time.January, 1, 0, 30, 0), "Dec 31 23:59", at(2026, time.December, 31, 23, 59, 0)},
		{"just after New Year, minutes ago", at(2027, time.January, 1, 0, 30, 0), "Jan  1 00:10", at(2027, time.January, 1, 0, 10, 0)},
		{"just after New Year, within a day ahead", at(2027, time.January, 1, 0, 30, 0), "Jan  2 00:20", at(2027, time.January, 2, 0, 20, 0)},
		{"just after New Year, over a day ahead", at(2027, time.January, 1, 0, 30, 0), "Jan  2 01:00", at(2026, time.January, 2, 1, 0, 0)},
		{"New Year's Eve, server already in the new year", at(2026, time.December, 31, 23, 0, 0), "Jan  1 01:00", at(2027, time.January, 1, 1, 0, 0)},
		{"New Year's Eve, earlier today", at(2026, time.December, 31, 23, 0, 0), "Dec 31 22:00", at(2026, time.December, 31, 22, 0, 0)},
		{"New Year's Eve, far into January", at(2026, time.December, 31, 23, 0, 0), "Jan  2 12:00", at(2026, time.January, 2, 12, 0, 0)},
		{"mid-year, last December", at(2026, time.June, 15, 12, 0, 0), "Dec 25 10:00", at(2025, time.December, 25, 10, 0, 0)},
		{"mid-year, tomorrow", at(2026, time.June, 15, 12, 0, 0), "Jun 16 10:00", at(2026, time.June, 16, 10, 0, 0)},
		{"mid-year, in two days", at(2026, time.June, 15, 12, 0, 0), "Jun 17 10:00", at(2025, time.June, 17, 10, 0, 0)},
		{"Feb 29 in a later non-leap year", at(2025, time.March, 10, 12, 0, 0), "Feb 29 10:00", at(2024, time.February, 29, 10, 0, 0)},
		{"now in another zone is taken in UTC", time.Date(2027, time.January, 1, 1, 0, 0, 0, time.FixedZone("+10", 10*3600)), "Jan  2 14:00", at(2026, time.January, 2, 14, 0, 0)},
		{"explicit year kept", at(2027, time.January, 1, 0, 30, 0), "Dec 31  2030", at(2030, time.December, 31, 0, 0, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseLines(formatLIST, c.now, 10, "-rw-r--r-- 1 u g 1 "+c.date+" f")
			if err != nil {
				t.Fatal(err)
			}
			checkEntries(t, p.Entries(), []Entry{*file("f", 1, c.want, 0o644, true)})
		})
	}
}

// mixedListing holds every kind of line, for the whole-listing tests.
func mixedListing() (listFormat, []string) {
	lines := []string{"total 20", ""}
	for _, c := range listCases {
		lines = append(lines, c.line)
	}
	lines = append(lines, "   ", "-rw-r--r-- 1 u g 99 Nov 25 19:43 hello.txt") // a duplicate
	return formatLIST, lines
}

func TestListDedupFirstWins(t *testing.T) {
	p, err := parseLines(formatMLSD, listNow, 10,
		"type=file;size=1; a", "type=file;size=2; b", "type=dir; a", "type=file;size=3; A")
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, p.Entries(), []Entry{
		*file("a", 1, time.Time{}, 0, false), *file("b", 2, time.Time{}, 0, false), *file("A", 3, time.Time{}, 0, false),
	})
	if n, _ := p.Rejected(); n != 0 {
		t.Errorf("duplicates counted as rejected: %d", n)
	}
}

func TestListRejectedSample(t *testing.T) {
	long := "garbage " + strings.Repeat("x", 1000)
	p, err := parseLines(formatLIST, listNow, 10,
		"-rw-r--r-- 1 u g 1 Nov 25 19:43 ok", long, "more garbage", "-rw-r--r-- 1 u g 1 Nov 25 19:43 a/b", "")
	if err != nil {
		t.Fatal(err)
	}
	n, sample := p.Rejected()
	if n != 3 || sample != long[:maxRejectSample] {
		t.Errorf("Rejected() = %d, %q; want 3 and the first rejected line cut to %d bytes", n, sample, maxRejectSample)
	}
	if len(p.Entries()) != 1 {
		t.Errorf("entries %s, want just ok", fmtEntries(p.Entries()))
	}
}

func TestListBlankLinesSilent(t *testing.T) {
	p := newListParser(formatMLSD, listNow, 10)
	if _, err := p.Write([]byte("\n\r\n  \t \n\ntype=file; a\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n, s := p.Rejected(); n != 0 || len(p.Entries()) != 1 {
		t.Errorf("got %s, rejected %d (%q); want one entry, none rejected", fmtEntries(p.Entries()), n, s)
	}
}

// parseChunks feeds data to a parser in the chunks sizes says (cycling) and
// returns the parser and the first error.
func parseChunks(format listFormat, data []byte, max int, sizes func() int) (*listParser, error) {
	p := newListParser(format, listNow, max)
	for len(data) > 0 {
		n := min(sizes(), len(data))
		if _, err := p.Write(data[:n]); err != nil {
			return p, err
		}
		data = data[n:]
	}
	return p, p.Close()
}

func sameResult(t *testing.T, label string, got, want *listParser) {
	t.Helper()
	gn, gs := got.Rejected()
	wn, ws := want.Rejected()
	if gn != wn || gs != ws {
		t.Errorf("%s: rejected %d %q, want %d %q", label, gn, gs, wn, ws)
	}
	g, w := got.Entries(), want.Entries()
	if len(g) != len(w) {
		t.Fatalf("%s: %d entries, want %d", label, len(g), len(w))
	}
	for i := range g {
		if !sameEntry(g[i], w[i]) {
			t.Fatalf("%s: entry %d = %s, want %s", label, i, fmtEntry(g[i]), fmtEntry(w[i]))
		}
	}
}

// TestListSplitWrites checks that how the listing is cut into Writes does
// not matter: byte by byte, random chunks, and one cut at every position
// (which lands between \r and \n and inside multi-byte characters).
func TestListSplitWrites(t *testing.T) {
	for _, lf := range []bool{false, true} {
		format, lines := mixedListing()
		for _, c := range mlsdCases { // MLSD lines are rejected junk for LIST
			lines = append(lines, c.line)
		}
		sep := "\r\n"
		if lf {
			sep = "\n"
		}
		data := []byte(strings.Join(lines, sep) + sep + "-rw-r--r-- 1 u g 1 Nov 25 19:43 last without newline ☃")
		whole, err := parseChunks(format, data, 1000, func() int { return len(data) })
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Entries()) < 30 {
			t.Fatalf("only %d entries", len(whole.Entries()))
		}
		if e := whole.Entries()[len(whole.Entries())-1]; e.Name != "last without newline ☃" {
			t.Errorf("last entry %s, want the line without newline", fmtEntry(e))
		}
		bytewise, _ := parseChunks(format, data, 1000, func() int { return 1 })
		sameResult(t, "byte by byte", bytewise, whole)
		rng := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			chunked, _ := parseChunks(format, data, 1000, func() int { return 1 + rng.IntN(64) })
			sameResult(t, "random chunks", chunked, whole)
		}
		for cut := range len(data) {
			sizes := []int{cut, len(data)}
			split, _ := parseChunks(format, data, 1000, func() int { s := sizes[0]; sizes = sizes[1:]; return s })
			sameResult(t, fmt.Sprintf("cut at %d", cut), split, whole)
		}
	}
}

// TestListLineEndings checks that \r\n and \n give the same entries, and
// that only one \r is taken as part of the terminator.
func TestListLineEndings(t *testing.T) {
	crlf, err := parseChunks(formatMLSD, []byte("type=file; a\r\ntype=dir; b\r\ntype=file; c\r"), 10, func() int { return 1 << 20 })
	if err != nil {
		t.Fatal(err)
	}
	lf, err := parseChunks(formatMLSD, []byte("type=file; a\ntype=dir; b\ntype=file; c"), 10, func() int { return 1 << 20 })
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "crlf vs lf", crlf, lf)
	cr, _ := parseLines(formatMLSD, listNow, 10, "type=file; a\r")
	checkEntries(t, cr.Entries(), []Entry{*file("a\r", 0, time.Time{}, 0, false)})
}

func TestListMaxEntries(t *testing.T) {
	p, err := parseLines(formatMLSD, listNow, 3, "type=file; a", "type=file; b", "type=file; a", "type=cdir; .", "type=file; c")
	if err != nil || len(p.Entries()) != 3 {
		t.Fatalf("3 entries with a limit of 3: %v, %d entries", err, len(p.Entries()))
	}
	p = newListParser(formatMLSD, listNow, 3)
	_, err = p.Write([]byte("type=file; a\ntype=file; b\ntype=file; c\ntype=file; d\ntype=file; e\n"))
	if !errors.Is(err, errListingTooLarge) || !errors.Is(err, ErrListingTooLarge) {
		t.Fatalf("Write with 5 entries over a limit of 3 = %v, want errListingTooLarge", err)
	}
	if _, err := p.Write([]byte("type=file; f\n")); !errors.Is(err, errListingTooLarge) {
		t.Errorf("Write after the limit = %v, want the error again", err)
	}
	if err := p.Close(); !errors.Is(err, errListingTooLarge) {
		t.Errorf("Close after the limit = %v, want the error", err)
	}
	if len(p.Entries()) != 3 {
		t.Errorf("kept %d entries, want 3", len(p.Entries()))
	}
}

// TestListEndlessJunk checks that a stream of lines yielding nothing new
// (duplicates here) is cut off too.
func TestListEndlessJunk(t *testing.T) {
	p := newListParser(formatMLSD, listNow, 2)
	var err error
	for i := 0; i < 2+listSlack+10 && err == nil; i++ {
		_, err = p.Write([]byte("type=file; same\n"))
	}
	if !errors.Is(err, errListingTooLarge) {
		t.Fatalf("endless duplicates: err = %v, want errListingTooLarge", err)
	}
}

func TestListLongLines(t *testing.T) {
	// The length is in an unknown fact, so the name stays within NAME_MAX.
	const suffix = "; name"
	prefix := "type=file;x="
	name := func(n int) string { return strings.Repeat("n", n-len(prefix)-len(suffix)) + suffix }
	for _, c := range []struct {
		name    string
		data    string
		tooLong bool
	}{
		{"exactly the limit, lf", prefix + name(maxListLine) + "\n", false},
		{"exactly the limit, crlf", prefix + name(maxListLine) + "\r\n", false},
		{"exactly the limit, no newline", prefix + name(maxListLine), false},
		{"exactly the limit, cr at end", prefix + name(maxListLine) + "\r", false},
		{"one over, lf", prefix + name(maxListLine+1) + "\n", true},
		{"one over, no newline", prefix + name(maxListLine+1), true},
		{"never ending", strings.Repeat("x", 3*maxListLine), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{1, 1000, len(c.data)} {
				p, err := parseChunks(formatMLSD, []byte(c.data), 10, func() int { return chunk })
				if got := errors.Is(err, errListingTooLarge); got != c.tooLong {
					t.Fatalf("chunks of %d: err = %v, want too long %v", chunk, err, c.tooLong)
				}
				if !c.tooLong && len(p.Entries()) != 1 {
					t.Fatalf("chunks of %d: %d entries, want 1", chunk, len(p.Entries()))
				}
			}
		})
	}
	// The error comes from Write, before any newline, so a caller can stop
	// reading.
	p := newListParser(formatLIST, listNow, 10)
	chunk := bytes.Repeat([]byte("x"), 4096)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, err = p.Write(chunk)
	}
	if !errors.Is(err, errListingTooLarge) {
		t.Errorf("400 KiB without a newline: %v", err)
	}
}

// checkListProperties is the fuzz test's invariant.
func checkListProperties(t *testing.T, p *listParser, max int) {
	t.Helper()
	es := p.Entries()
	if len(es) > max {
		t.Fatalf("%d entries, more than the limit %d", len(es), max)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			t.Fatalf("bad name %q", e.Name)
		}
		if seen[e.Name] {
			t.Fatalf("duplicate name %q", e.Name)
		}
		seen[e.Name] = true
	}
}

func FuzzListParser(f *testing.F) {
	for _, c := range mlsdCases[:8] {
		f.Add([]byte(c.line+"\r\n"+c.line+"\n"), false, uint8(7))
	}
	_, lines := mixedListing()
	for i := 0; i < len(lines); i += 8 {
		f.Add([]byte(strings.Join(lines[i:min(i+8, len(lines))], "\r\n")), true, uint8(3))
	}
	f.Add([]byte("type=file;size=1; a\nx\r\n\r\n;; \n"), false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, list bool, chunk uint8) {
		format := formatMLSD
		if list {
			format = formatLIST
		}
		const max = 20
		whole, errWhole := parseChunks(format, data, max, func() int { return len(data) })
		checkListProperties(t, whole, max)
		split, errSplit := parseChunks(format, data, max, func() int { return 1 + int(chunk) })
		checkListProperties(t, split, max)
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v; in chunks of %d: %v", errWhole, 1+int(chunk), errSplit)
		}
		sameResult(t, "chunks", split, whole)
	})
}

func benchListing(b *testing.B, format listFormat, line func(i int) string) {
	var buf bytes.Buffer
	for i := range 10000 {
		buf.WriteString(line(i))
		buf.WriteString("\r\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		// io.Copy's 32 KiB buffer is what the data connection delivers.
		p, err := parseChunks(format, data, MaxListEntries, func() int { return 32 << 10 })
		if err != nil || len(p.Entries()) != 10000 {
			b.Fatalf("%v, %d entries", err, len(p.Entries()))
		}
	}
}

func BenchmarkParseMLSD10k(b *testing.B) {
	benchListing(b, formatMLSD, func(i int) string {
		return fmt.Sprintf("modify=20261125194300;perm=adfrw;size=%d;type=file;unique=FD00U%X;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; file %05d.txt", i*37, i, i)
	})
}

func BenchmarkParseLIST10k(b *testing.B) {
	benchListing(b, formatLIST, func(i int) string {
		return fmt.Sprintf("-rw-r--r--    1 1000     1000     %8d Nov 25 19:43 file %05d.txt", i*37, i)
	})
}

func TestListRejectsOverlongNames(t *testing.T) {
	long := strings.Repeat("n", 256)
	p := newListParser(formatMLSD, time.Now(), 10)
	if _, err := p.Write([]byte("type=file;size=1; " + long + "\ntype=file;size=1; ok\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if ents := p.Entries(); len(ents) != 1 || ents[0].Name != "ok" {
		t.Errorf("entries: %+v", ents)
	}
	if n, _ := p.Rejected(); n != 1 {
		t.Errorf("rejected %d, want 1", n)
	}
}

// TestListTimeGrain checks how coarse each listing format says its times
// are: LIST's "HH:MM" a minute, its year a day, DOS a minute, MLSD exact.
func TestListTimeGrain(t *testing.T) {
	now := time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		format listFormat
		line   string
		want   time.Duration
	}{
		{formatLIST, "-rw-r--r-- 1 u g 1 Jun 14 10:00 f", time.Minute},
		{formatLIST, "drwxr-xr-x 2 u g 4096 Dec 31  2020 d", 24 * time.Hour},
		{formatLIST, "01-02-24  10:30AM               12 f", time.Minute},
		{formatMLSD, "type=file;size=1;modify=20260614100000; f", 0},
	}
	for _, c := range cases {
		p, err := parseLines(c.format, now, 10, c.line)
		if err != nil || len(p.Entries()) != 1 {
			t.Fatalf("%q: %v, %d entries", c.line, err, len(p.Entries()))
		}
		if g := p.Entries()[0].TimeGrain; g != c.want {
			t.Errorf("%q: grain %v, want %v", c.line, g, c.want)
		}
	}
}
