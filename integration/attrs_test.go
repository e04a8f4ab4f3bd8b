package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestShownAttrsAreTheServers checks that what the mount shows after a
// change is what the server holds, at once and for good: the time shown
// after an upload is the one the server lists later (vim's "The file has
// been changed since reading it" came from the two differing), a time set
// shows at once, and a SETATTR reply carries the file's inode number
// (without it `cp a b` after `chmod 600 a b` said "'a' and 'b' are the same
// file").
func TestShownAttrsAreTheServers(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			for _, name := range []string{"a", "b"} {
				write(t, filepath.Join(m.Dir, name), []byte("contents of "+name))
			}
			shown := map[string]time.Time{}
			for _, name := range []string{"a", "b"} {
				st, err := os.Stat(filepath.Join(m.Dir, name))
				must(t, err)
				disk, err := os.Stat(filepath.Join(root, name))
				must(t, err)
				shown[name] = st.ModTime()
				if !st.ModTime().Equal(disk.ModTime()) {
					t.Errorf("%s: the mount shows mtime %v after the upload, the server holds %v",
						name, st.ModTime(), disk.ModTime())
				}
			}

			// st_ino stays the node's own through chmod, utimens, truncate.
			inos := map[string]uint64{}
			for _, name := range []string{"a", "b"} {
				inos[name] = ino(t, filepath.Join(m.Dir, name))
			}
			for _, name := range []string{"a", "b"} {
				p := filepath.Join(m.Dir, name)
				must(t, os.Chmod(p, 0o600))
				if got := ino(t, p); got != inos[name] {
					t.Errorf("%s: st_ino after chmod is %d, was %d", name, got, inos[name])
				}
			}
			// The server stores whole seconds: shown so at once.
			stamp := time.Date(2002, 2, 2, 2, 2, 2, 0, time.UTC)
			p := filepath.Join(m.Dir, "a")
			must(t, os.Chtimes(p, stamp, stamp.Add(123456789)))
			st, err := os.Stat(p)
			must(t, err)
			if !st.ModTime().Equal(stamp) {
				t.Errorf("mtime right after utimens: %v, want %v", st.ModTime(), stamp)
			}
			if disk, err := os.Stat(filepath.Join(root, "a")); err != nil || !disk.ModTime().Equal(st.ModTime()) {
				t.Errorf("mtime on the server after utimens: %v, shown %v", disk.ModTime(), st.ModTime())
			}
			if got := st.Sys().(*syscall.Stat_t).Ino; got != inos["a"] {
				t.Errorf("st_ino after utimens is %d, was %d", got, inos["a"])
			}
			must(t, os.Truncate(p, 3))
			if got := ino(t, p); got != inos["a"] {
				t.Errorf("st_ino after truncate is %d, was %d", got, inos["a"])
			}
			Run(t, 10*time.Second, "cp", filepath.Join(m.Dir, "b"), p)
			mustEqualFile(t, filepath.Join(root, "a"), []byte("contents of b"))

			// A fresh mount shows what this one showed (LIST-only servers
			// through MDTM).
			m.Unmount(t)
			m2 := MountServer(t, srv)
			st, err = os.Stat(filepath.Join(m2.Dir, "b"))
			must(t, err)
			if !st.ModTime().Equal(shown["b"]) {
				t.Errorf("b: a fresh mount shows mtime %v, the first showed %v", st.ModTime(), shown["b"])
			}
		})
	}
}

func ino(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	must(t, err)
	n := st.Sys().(*syscall.Stat_t).Ino
	if n == 0 {
		t.Errorf("%s: st_ino 0", p)
	}
	return n
}

// TestNoWaitOnAnotherTransfer checks that an upload in progress holds up
// nothing but its own file's content: with it slowed down by the proxy,
// `ls -l` of its directory and stat of it and of another file answer while
// it is still running (they used to wait for its end, behind the file's
// content lock).
func TestNoWaitOnAnotherTransfer(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "other"), []byte("other"))
	srv := StartKind(t, KindPureFTPd, root)
	proxy, via := ProxyServer(t, srv)
	// Caching off in the kernel: every stat below reaches ftpfs.
	m := MountServer(t, via, "cache_timeout=0")
	proxy.Throttle(1 << 20)
	big := randomBytes(7, 6<<20)
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(filepath.Join(m.Dir, "big"), big, 0o644) }()
	// Wait for the upload to be under way: its temporary name holds bytes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(filepath.Join(root, ".big.ftpfs-part")); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload did not start within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checks := []struct {
		what string
		fn   func() error
	}{
		{"stat of another file", func() error { _, err := os.Stat(filepath.Join(m.Dir, "other")); return err }},
		{"stat of the file being uploaded", func() error { _, err := os.Stat(filepath.Join(m.Dir, "big")); return err }},
		{"ls -l of the directory", func() error {
			ents, err := os.ReadDir(m.Dir)
			for _, e := range ents {
				if _, err := os.Lstat(filepath.Join(m.Dir, e.Name())); err != nil {
					return err
				}
			}
			return err
		}},
	}
	for _, c := range checks {
		start := time.Now()
		if err := c.fn(); err != nil {
			t.Errorf("%s: %v", c.what, err)
		}
		select {
		case err := <-done:
			t.Fatalf("%s answered only after the upload had ended (%v, err %v)", c.what, time.Since(start), err)
		default:
			t.Logf("%s: answered in %v while the upload runs", c.what, time.Since(start))
		}
	}
	proxy.Throttle(0)
	must(t, <-done)
	mustEqualFile(t, filepath.Join(root, "big"), big)
}

// TestServerSideChanges checks the consistency model's promises for changes
// made on the server, with cache_timeout at its default of 30 s: a name
// made there opens on the mount once negative_timeout has passed (it used
// to stay "no such file" for cache_timeout), and an open after
// revalidate_timeout reads a file rewritten there whole and new, with its
// new size (the kernel used to end the read at the old size), and a file
// removed there is ENOENT.
func TestServerSideChanges(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "c"), []byte("old"))
			write(t, filepath.Join(root, "g"), []byte("gone soon"))
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "negative_timeout=0.5", "revalidate_timeout=0.5")
			// Stat, not read: a read makes the kernel ask for the
			// attributes again at the next stat (atime), which would hide
			// what this test is about.
			if st, err := os.Stat(filepath.Join(m.Dir, "c")); err != nil || st.Size() != 3 {
				t.Fatalf("stat c: %v", err)
			}
			if _, err := os.Stat(filepath.Join(m.Dir, "g")); err != nil {
				t.Fatalf("stat g: %v", err)
			}
			if _, err := os.Stat(filepath.Join(m.Dir, "x")); !os.IsNotExist(err) {
				t.Fatalf("stat x before it exists: %v", err)
			}

			must(t, os.Mkdir(filepath.Join(root, "x"), 0o755))
			write(t, filepath.Join(root, "x", "f"), []byte("in x"))
			next := []byte("new, and longer than before")
			write(t, filepath.Join(root, "c"), next)
			must(t, os.Remove(filepath.Join(root, "g")))

			// Well within cache_timeout, x shows up.
			start := time.Now()
			deadline := start.Add(10 * time.Second)
			for {
				_, err := os.Stat(filepath.Join(m.Dir, "x"))
				if err == nil {
					t.Logf("x seen after %v", time.Since(start))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a directory made on the server is still not seen after 10 s: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			mustEqualFile(t, filepath.Join(m.Dir, "x", "f"), []byte("in x"))

			time.Sleep(600 * time.Millisecond) // past revalidate_timeout
			mustEqualFile(t, filepath.Join(m.Dir, "c"), next)
			st, err := os.Stat(filepath.Join(m.Dir, "c"))
			must(t, err)
			if st.Size() != int64(len(next)) {
				t.Errorf("size after the open: %d, want %d", st.Size(), len(next))
			}
			if _, err := os.ReadFile(filepath.Join(m.Dir, "g")); !os.IsNotExist(err) {
				t.Errorf("open of a file removed on the server: %v, want ENOENT", err)
			}
			// What open found out, stat agrees with (the kernel's entry
			// is dropped, not kept for cache_timeout).
			if !eventually(func() bool { _, err := os.Stat(filepath.Join(m.Dir, "g")); return os.IsNotExist(err) }) {
				t.Error("stat still shows a file that open found removed on the server")
			}
		})
	}
}

// TestShownTimeStaysOnRefresh checks that a directory's time, advanced to
// the second by a change made through the mount, does not go back to
// LIST's minute when the listing is refreshed (vsftpd, the LIST-only
// in-process server): a time shown must not move by itself.
func TestShownTimeStaysOnRefresh(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindVsftpd, KindInProcessLIST} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "cache_timeout=1")
			for try := 0; ; try++ {
				d := filepath.Join(m.Dir, fmt.Sprintf("d%d", try))
				must(t, os.Mkdir(d, 0o755))
				write(t, filepath.Join(d, "n1"), []byte("x"))
				must(t, os.Remove(filepath.Join(d, "n1")))
				st, err := os.Stat(d)
				must(t, err)
				shown := st.ModTime()
				if shown.Second() == 0 && try < 3 {
					continue // the minute itself: nothing to tell apart
				}
				if shown.Nanosecond() != 0 {
					t.Errorf("a directory's time has fractions of a second: %v", shown)
				}
				time.Sleep(1500 * time.Millisecond) // past cache_timeout
				st, err = os.Stat(d)
				must(t, err)
				if !st.ModTime().Equal(shown) {
					t.Errorf("the directory's time moved from %v to %v when its listing was refreshed", shown, st.ModTime())
				}
				return
			}
		})
	}
}
