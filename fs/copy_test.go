package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

// cpInMount runs coreutils cp, which calls copy_file_range(2) first
// (9.x), from src to dst, both in mnt.
func cpInMount(t *testing.T, mnt, src, dst string) {
	t.Helper()
	if _, err := exec.LookPath("cp"); err != nil {
		t.Skip("cp is not installed")
	}
	if out, err := exec.Command("cp", filepath.Join(mnt, src), filepath.Join(mnt, dst)).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
}

// TestCopyOnServer: cp within the mount is one copy on the server, and no
// upload; the copy reads back whole and shows the time of the copy.
func TestCopyOnServer(t *testing.T) {
	r := bigRemote(0)
	mnt := testMount(t, r, time.Minute)
	start := time.Now().Truncate(time.Second)
	cpInMount(t, mnt, "hello", "copy")
	if n, up := r.copies.Load(), r.stores.Load()+r.streams.Load(); n != 1 || up != 0 {
		t.Errorf("%d copies and %d uploads on the server, want 1 and 0", n, up)
	}
	r.mu.Lock()
	got := r.files["/copy"]
	r.mu.Unlock()
	if got != "hello\n" {
		t.Errorf("the server's copy holds %q", got)
	}
	data, err := os.ReadFile(filepath.Join(mnt, "copy"))
	if err != nil || string(data) != "hello\n" {
		t.Errorf("the copy reads %q, %v", data, err)
	}
	fi, err := os.Stat(filepath.Join(mnt, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 6 || fi.ModTime().Before(start) {
		t.Errorf("the copy shows size %d and time %v, want 6 and the time of the copy (after %v)", fi.Size(), fi.ModTime(), start)
	}
}

// TestCopyFallsBack: a server without the copy command (500) gets the
// file read and written through the mount, as before: cp succeeds.
func TestCopyFallsBack(t *testing.T) {
	r := bigRemote(0)
	r.copyErr = &conn.Error{Op: "site cpfr", Path: "/hello", Code: 500, Msg: "'SITE CPFR' not understood"}
	mnt := testMount(t, r, time.Minute)
	cpInMount(t, mnt, "hello", "copy")
	if n := r.copies.Load(); n != 1 {
		t.Errorf("%d copies asked of the server, want 1", n)
	}
	r.mu.Lock()
	got := r.files["/copy"]
	r.mu.Unlock()
	if got != "hello\n" {
		t.Errorf("the server's file holds %q after the fallback", got)
	}
}
