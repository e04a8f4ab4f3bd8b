package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testContentCache checks the content cache against a real server: files
// read once are read again after cache_timeout, and after a remount,
// without a RETR (the debug log shows every command sent); the ranges of
// a file read in part are served and the rest fetched; a file changed on
// the server (same size, other bytes, a later time) reads anew; and with
// cache_max_size=0 every read is a RETR again.
func testContentCache(t *testing.T, env *readEnv) {
	const n = 6
	dir := filepath.Join(env.root, "cc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Two days old: a LIST server's minute-grain times are trusted then.
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%d.txt", i)
		writeOld(t, filepath.Join(dir, name), []byte(strings.Repeat(fmt.Sprintf("%s line\n", name), 50+i)), old)
		names = append(names, name)
	}
	// Larger than what is read ahead whole: read through a handle, in part.
	// 4.4 MB: more than the kernel reads ahead of head -c (1 MiB as root).
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\n"), 120000)
	writeOld(t, filepath.Join(dir, "big"), big, old)
	const part = 200000

	cacheDir := t.TempDir()
	mount := func(extra ...string) *Mount {
		return MountServer(t, env.srv, append([]string{"debug", "cache_timeout=1", "revalidate_timeout=1", "cache_dir=" + cacheDir}, extra...)...)
	}
	retrs := func(m *Mount) map[string]int {
		re := regexp.MustCompile(`cmd="RETR [^"]*/cc/([^"/]+)"`)
		got := map[string]int{}
		for _, mm := range re.FindAllStringSubmatch(m.Log(), -1) {
			got[mm[1]]++
		}
		return got
	}
	total := func(c map[string]int) (s int) {
		for _, v := range c {
			s += v
		}
		return s
	}
	readAll := func(m *Mount) {
		t.Helper()
		var paths []string
		var want []byte
		for _, name := range names {
			paths = append(paths, filepath.Join(m.Dir, "cc", name))
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, b...)
		}
		if got := Run(t, time.Minute, "cat", paths...); got != string(want) {
			t.Fatalf("cat of the files read %d bytes, want %d", len(got), len(want))
		}
		if got := Run(t, time.Minute, "head", "-c", fmt.Sprint(part), filepath.Join(m.Dir, "cc", "big")); got != string(big[:part]) {
			t.Fatalf("head -c %d big: wrong bytes", part)
		}
	}

	m := mount()
	readAll(m)
	first := retrs(m)
	if total(first) == 0 {
		t.Fatalf("the first reads sent no RETR\n%s", tail(m.Log(), 30))
	}
	time.Sleep(1500 * time.Millisecond) // past cache_timeout and revalidate_timeout
	readAll(m)
	// The small files come from local disk; big, held in part, from the
	// server again: a read never joins cached ranges with the server's
	// bytes, which could be of another version.
	if again := retrs(m); total(again)-again["big"] != total(first)-first["big"] || again["big"] != first["big"]+1 {
		t.Errorf("reading again after cache_timeout sent RETRs: %v, before %v; want one more, of big only", again, first)
	}
	st := Run(t, time.Minute, Binary(t), "status", m.Dir)
	if !regexp.MustCompile(`content:   \d+ files, .*reads from local disk`).MatchString(st) {
		t.Errorf("ftpfs status does not show the content cache:\n%s", st)
	}
	m.Unmount(t)

	// A remount reads the small files from local disk; big, held in part,
	// from the server, until it has been read whole.
	m = mount()
	readAll(m)
	if got := retrs(m); total(got)-got["big"] != 0 {
		t.Errorf("after a remount: RETRs %v, want none of the small files", got)
	}
	if got := Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", "big")); got != string(big) {
		t.Errorf("cat big after reading its start: wrong bytes")
	}
	whole := retrs(m)["big"]
	if whole == 0 {
		t.Errorf("the part of big never read came from nowhere: no RETR")
	}
	if got := Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", "big")); got != string(big) {
		t.Errorf("cat big once held whole: wrong bytes")
	}
	if got := retrs(m)["big"]; got != whole {
		t.Errorf("cat big once held whole sent %d more RETR", got-whole)
	}

	// Changed on the server: same size, other bytes, a later time.
	changed := filepath.Join(dir, names[2])
	b, _ := os.ReadFile(changed)
	writeOld(t, changed, bytes.ToUpper(b), old.Add(time.Hour))
	time.Sleep(1500 * time.Millisecond) // past revalidate_timeout: the open lists again
	if got := Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", names[2])); got != string(bytes.ToUpper(b)) {
		t.Errorf("a file changed on the server read %q", got)
	}

	// Two files of the same size and time swapped on the server (mv keeps
	// times): where MLSD gives the unique fact (pure-ftpd and proftpd:
	// device and inode), each name reads its new bytes.
	if k := env.srv.Kind; k == KindPureFTPd || k == KindProFTPd || k == KindProFTPdDefault {
		a, b := filepath.Join(dir, "swap-a"), filepath.Join(dir, "swap-b")
		writeOld(t, a, []byte("the first file, A\n"), old)
		writeOld(t, b, []byte("the other file, B\n"), old)
		time.Sleep(1500 * time.Millisecond) // past cache_timeout: listed anew
		for _, p := range []string{a, b} {
			Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", filepath.Base(p)))
		}
		must(t, os.Rename(a, a+".tmp"))
		must(t, os.Rename(b, a))
		must(t, os.Rename(a+".tmp", b))
		time.Sleep(1500 * time.Millisecond)
		if got := Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", "swap-a")); got != "the other file, B\n" {
			t.Errorf("swap-a after the swap on the server read %q", got)
		}
		if got := Run(t, time.Minute, "cat", filepath.Join(m.Dir, "cc", "swap-b")); got != "the first file, A\n" {
			t.Errorf("swap-b after the swap on the server read %q", got)
		}
	}
	m.Unmount(t)

	// Off: every file is fetched.
	m = mount("cache_max_size=0")
	readAll(m)
	if got := retrs(m); total(got) < 2 {
		t.Errorf("with cache_max_size=0: RETRs %v", got)
	}
	st = Run(t, time.Minute, Binary(t), "status", m.Dir)
	if !strings.Contains(st, "content:   off") {
		t.Errorf("ftpfs status with the content cache off:\n%s", st)
	}
}

func writeOld(t *testing.T, p string, b []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
