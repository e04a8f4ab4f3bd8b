package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeEnv is a served directory, its server and a debug mount of it.
type writeEnv struct {
	srv       *Server
	m         *Mount
	writeback bool // m is mounted with -o writeback
}

// dir makes a fresh directory for one test through the mount (so the FTP
// user owns it) and returns its path in the mount and on the server's disk.
func (env *writeEnv) dir(t *testing.T) (mnt, disk string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	mnt = filepath.Join(env.m.Dir, name)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return mnt, filepath.Join(env.srv.Root, name)
}

// TestWrite runs the write-path suite against every server kind, checking
// the server's own copy on its disk, not just what the mount shows.
func TestWrite(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			srv := StartKind(t, kind, t.TempDir())
			env := &writeEnv{srv: srv, m: MountServer(t, srv, "debug")}
			for _, c := range writeCases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, env) })
			}
		})
	}
}

var writeCases = []struct {
	name string
	fn   func(t *testing.T, env *writeEnv)
}{
	{"CopyIn", testCopyIn},
	{"EmptyFiles", testEmptyFiles},
	{"OverwriteInPlace", testOverwriteInPlace},
	{"Truncate", testTruncate},
	{"AppendUsesAPPE", testAppend},
	{"OTrunc", testOTrunc},
	{"ReadBeforeClose", testReadBeforeClose},
	{"Rename", testRename},
	{"RenameOverExisting", testRenameOverExisting},
	{"RemoveTree", testRemoveTree},
	{"Times", testTimes},
	{"Chmod", testChmod},
	{"RewriteKeepsMode", testRewriteKeepsMode},
	{"ReadOnlyFileRefused", testReadOnlyFileRefused},
	{"AppendToFileMadeOnServer", testAppendToFileMadeOnServer},
	{"OpenFileSurvivesUnlinkAndRename", testOpenSurvives},
	{"UntarAndRsync", testUntarAndRsync},
	{"RandomOps", testRandomOps},
	{"FailedUploadIsAnError", testFailedUpload},
}

// testFailedUpload writes into a directory the FTP user may not write to:
// close(2) must fail, and the bytes must be kept in the cache directory.
func testFailedUpload(t *testing.T, env *writeEnv) {
	if env.srv.Kind == KindInProcess || env.srv.Kind == KindInProcessLIST {
		t.Skip("the in-process server runs as root: nothing is refused")
	}
	mnt, disk := env.dir(t)
	must(t, os.Chmod(disk, 0o555))
	defer os.Chmod(disk, 0o755)
	data := []byte("bytes the server refused")
	f, err := os.Create(filepath.Join(mnt, "refused"))
	if err != nil {
		t.Fatal(err) // created locally; the server is asked at close
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close succeeded although the server refused the file")
	}
	if _, err := os.Stat(filepath.Join(disk, "refused")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server has the file: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		kept, _ := filepath.Glob(filepath.Join(env.m.CacheDir, "unsaved", "*refused"))
		if len(kept) == 1 {
			b, err := os.ReadFile(kept[0])
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("kept copy %s: %q, %v", kept[0], b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no local copy kept under %s; log:\n%s", env.m.CacheDir, tail(env.m.Log(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The log line follows the copy: wait for it as for the copy.
	for !strings.Contains(env.m.Log(), "the data is kept locally") {
		if time.Now().After(deadline) {
			t.Error("the log does not say where the data was kept")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// mustEqualFile checks a file's bytes on the server's disk.
func mustEqualFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("server copy: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("server copy of %s: %d bytes, want %d (first difference at %d)", filepath.Base(path), len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testCopyIn copies a 20 MiB file in with cp and checks the server has it
// whole when cp returns, and that ls shows the final size at once.
func testCopyIn(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	src := filepath.Join(t.TempDir(), "src.bin")
	data := randomBytes(11, 20<<20+123)
	write(t, src, data)
	Run(t, time.Minute, "cp", src, filepath.Join(mnt, "copy.bin"))
	mustEqualFile(t, filepath.Join(disk, "copy.bin"), data)
	out := Run(t, 30*time.Second, "ls", "-l", mnt)
	if !strings.Contains(out, fmt.Sprint(len(data))) {
		t.Errorf("ls -l right after cp does not show the size %d:\n%s", len(data), out)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "copy.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %d bytes, %v", len(got), err)
	}
}

func testEmptyFiles(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	Run(t, 10*time.Second, "touch", filepath.Join(mnt, "touched"))
	Run(t, 10*time.Second, "sh", "-c", ": > '"+filepath.Join(mnt, "redirected")+"'")
	for _, n := range []string{"touched", "redirected"} {
		mustEqualFile(t, filepath.Join(disk, n), nil)
		if fi, err := os.Stat(filepath.Join(mnt, n)); err != nil || fi.Size() != 0 {
			t.Errorf("%s: %v, %v", n, fi, err)
		}
	}
}

// testOverwriteInPlace rewrites a range with dd conv=notrunc: the server's
// copy must change in that range only.
func testOverwriteInPlace(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	data := randomBytes(12, 3<<20)
	write(t, filepath.Join(mnt, "f"), data)
	patch := bytes.Repeat([]byte("X"), 5000)
	src := filepath.Join(t.TempDir(), "patch")
	write(t, src, patch)
	Run(t, 30*time.Second, "dd", "if="+src, "of="+filepath.Join(mnt, "f"), "bs=1000", "seek=1234", "conv=notrunc", "status=none")
	copy(data[1234000:], patch)
	mustEqualFile(t, filepath.Join(disk, "f"), data)
}

func testTruncate(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	data := randomBytes(13, 1<<20)
	f := filepath.Join(mnt, "f")
	write(t, f, data)
	if err := os.Truncate(f, 1000); err != nil {
		t.Fatal(err)
	}
	mustEqualFile(t, filepath.Join(disk, "f"), data[:1000])
	if err := os.Truncate(f, 5000); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, data[:1000]...), make([]byte, 4000)...)
	mustEqualFile(t, filepath.Join(disk, "f"), want)
	Run(t, 10*time.Second, "truncate", "-s", "3000", f) // through a handle
	mustEqualFile(t, filepath.Join(disk, "f"), want[:3000])
	if fi, err := os.Stat(f); err != nil || fi.Size() != 3000 {
		t.Errorf("stat after truncate: %v, %v", fi, err)
	}
}

// testAppend appends with O_APPEND and checks that it went up with APPE,
// not by fetching and storing the whole file.
func testAppend(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	f := filepath.Join(mnt, "log")
	write(t, f, []byte("first line\n"))
	before := len(env.m.Log())
	for i := 0; i < 3; i++ {
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(fh, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mustEqualFile(t, filepath.Join(disk, "log"), []byte("first line\nline 0\nline 1\nline 2\n"))
	log := env.m.Log()[before:]
	if env.srv.Kind == KindProFTPdDefault {
		// It refuses APPE: the refusal is learnt once (maybe by an earlier
		// test of this mount) and each append stores the whole file.
		if n := strings.Count(log, `cmd="APPE`); n > 1 {
			t.Errorf("%d APPE commands after the server refused one", n)
		}
		if n := strings.Count(log, `cmd="STOR`); n != 3 {
			t.Errorf("%d STOR commands for 3 appends, want 3", n)
		}
		return
	}
	if n := strings.Count(log, `cmd="APPE`); n != 3 {
		t.Errorf("%d APPE commands for 3 appends, want 3", n)
	}
	if strings.Contains(log, `cmd="RETR`) || strings.Contains(log, `cmd="STOR`) {
		t.Errorf("an append fetched or stored the whole file:\n%s", tail(log, 30))
	}
}

func testOTrunc(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	f := filepath.Join(mnt, "f")
	write(t, f, bytes.Repeat([]byte("long content "), 1000))
	write(t, f, []byte("short"))
	mustEqualFile(t, filepath.Join(disk, "f"), []byte("short"))
}

// testReadBeforeClose reads what a handle wrote, through it and through
// another handle, before and after close.
func testReadBeforeClose(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	f := filepath.Join(mnt, "f")
	write(t, f, []byte("0123456789"))
	w, err := os.OpenFile(f, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt([]byte("abc"), 4); err != nil {
		t.Fatal(err)
	}
	want := "0123abc789"
	buf := make([]byte, 10)
	if _, err := w.ReadAt(buf, 0); err != nil || string(buf) != want {
		t.Errorf("same handle: %q, %v", buf, err)
	}
	r, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != want {
		t.Errorf("other handle: %q, %v", buf, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustEqualFile(t, filepath.Join(disk, "f"), []byte(want))
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != want {
		t.Errorf("other handle after close: %q, %v", buf, err)
	}
}

func testRename(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	write(t, filepath.Join(mnt, "a"), []byte("A"))
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, filepath.Join(mnt, "a"))
	must(t, os.Rename(filepath.Join(mnt, "a"), filepath.Join(mnt, "sub", "b")))
	if got := inode(t, filepath.Join(mnt, "sub", "b")); got != ino {
		t.Errorf("inode changed across rename: %d -> %d", ino, got)
	}
	mustEqualFile(t, filepath.Join(disk, "sub", "b"), []byte("A"))
	must(t, os.Rename(filepath.Join(mnt, "sub"), filepath.Join(mnt, "moved")))
	mustEqualFile(t, filepath.Join(disk, "moved", "b"), []byte("A"))
	if _, err := os.Stat(filepath.Join(disk, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old directory still on the server: %v", err)
	}
	if names := dirNames(t, mnt); strings.Join(names, ",") != "moved" {
		t.Errorf("listing after renames: %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "moved", "b")); err != nil || string(b) != "A" {
		t.Errorf("read after rename: %q, %v", b, err)
	}
}

// testRenameOverExisting saves as editors do: write a new file, rename it
// over the old one.
func testRenameOverExisting(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	write(t, filepath.Join(mnt, "doc.txt"), []byte("old version"))
	write(t, filepath.Join(mnt, ".doc.txt.swp"), []byte("new version"))
	must(t, os.Rename(filepath.Join(mnt, ".doc.txt.swp"), filepath.Join(mnt, "doc.txt")))
	mustEqualFile(t, filepath.Join(disk, "doc.txt"), []byte("new version"))
	if b, err := os.ReadFile(filepath.Join(mnt, "doc.txt")); err != nil || string(b) != "new version" {
		t.Errorf("read after save: %q, %v", b, err)
	}
	if names := dirNames(t, mnt); strings.Join(names, ",") != "doc.txt" {
		t.Errorf("listing after save: %v", names)
	}
}

func testRemoveTree(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	tree := filepath.Join(mnt, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "x", "y"), 0o755))
	write(t, filepath.Join(tree, "x", "y", "f"), []byte("f"))
	write(t, filepath.Join(tree, "g"), []byte("g"))
	if err := os.Remove(filepath.Join(tree, "x")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Errorf("rmdir of a non-empty directory: %v, want ENOTEMPTY", err)
	}
	must(t, os.Remove(filepath.Join(tree, "g")))
	if _, err := os.Stat(filepath.Join(disk, "tree", "g")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlinked file still on the server: %v", err)
	}
	Run(t, 30*time.Second, "rm", "-r", tree)
	if _, err := os.Stat(filepath.Join(disk, "tree")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rm -r left the tree on the server: %v", err)
	}
}

// testTimes sets a modification time; it must read back through the mount,
// and reach the server where the server can set times.
func testTimes(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	f := filepath.Join(mnt, "f")
	write(t, f, []byte("x"))
	when := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	must(t, os.Chtimes(f, when, when))
	fi, err := os.Stat(f)
	if err != nil || !fi.ModTime().Equal(when) {
		t.Errorf("mtime through the mount: %v, %v; want %v", fi.ModTime(), err, when)
	}
	// Every server here offers MFMT or vsftpd's MDTM form.
	di, err := os.Stat(filepath.Join(disk, "f"))
	if err != nil || !di.ModTime().Equal(when) {
		t.Errorf("mtime on the server: %v, %v; want %v", di.ModTime(), err, when)
	}
}

func testChmod(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	f := filepath.Join(mnt, "f")
	write(t, f, []byte("x"))
	must(t, os.Chmod(f, 0o600))
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode through the mount: %v, %v", fi.Mode(), err)
	}
	if di, err := os.Stat(filepath.Join(disk, "f")); err != nil || di.Mode().Perm() != 0o600 {
		t.Errorf("mode on the server: %v, %v", di.Mode(), err)
	}
}

// testRewriteKeepsMode rewrites files whose modes were set, one through
// the mount and one on the server (seen by a fresh mount): an upload goes
// to a temporary name renamed over the file, which must keep the file's
// mode, and leaves no temporary name behind.
func testRewriteKeepsMode(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	write(t, filepath.Join(mnt, "here"), []byte("v1"))
	must(t, os.Chmod(filepath.Join(mnt, "here"), 0o600))
	write(t, filepath.Join(disk, "there"), []byte("v1"))
	must(t, os.Chmod(filepath.Join(disk, "there"), 0o751))
	var opts []string
	if env.writeback {
		opts = append(opts, "writeback")
	}
	fresh := filepath.Join(MountServer(t, env.srv, opts...).Dir, filepath.Base(mnt))
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Join(mnt, "here"), 0o600}, {filepath.Join(fresh, "there"), 0o751}} {
		name := filepath.Base(c.path)
		if (env.srv.Kind == KindPyftpdlib || env.srv.Kind == KindInProcess) && name == "there" {
			continue // their listings (pyftpdlib, ftpserverlib's MLSD) carry no modes: ftpfs cannot know it
		}
		write(t, c.path, []byte("version 2"))
		if env.writeback {
			f, err := os.OpenFile(c.path, os.O_RDWR, 0)
			must(t, err)
			must(t, f.Sync())
			f.Close()
		}
		mustEqualFile(t, filepath.Join(disk, name), []byte("version 2"))
		if fi, err := os.Stat(filepath.Join(disk, name)); err != nil || fi.Mode().Perm() != c.mode {
			t.Errorf("%s on the server after a rewrite: %v, %v; want %v", name, fi.Mode(), err, c.mode)
		}
	}
	ents, _ := os.ReadDir(disk)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".ftpfs-part") {
			t.Errorf("temporary upload left: %s", e.Name())
		}
	}
}

// testReadOnlyFileRefused rewrites a file its owner may not write (0444
// on the server): the server refuses the STOR, as it would any client's,
// and keeps the file; a rename of a temporary upload over it would have
// gone through.
func testReadOnlyFileRefused(t *testing.T, env *writeEnv) {
	if env.srv.Kind == KindInProcess || env.srv.Kind == KindInProcessLIST || env.srv.Kind == KindPyftpdlib {
		t.Skip("the in-process server runs as root, and pyftpdlib lists no modes")
	}
	mnt, disk := env.dir(t)
	write(t, filepath.Join(disk, "ro"), []byte("keep me"))
	must(t, os.Chmod(filepath.Join(disk, "ro"), 0o444))
	fresh := filepath.Join(MountServer(t, env.srv).Dir, filepath.Base(mnt))
	if err := os.WriteFile(filepath.Join(fresh, "ro"), []byte("changed"), 0o644); err == nil {
		t.Error("rewriting a read-only file succeeded")
	}
	mustEqualFile(t, filepath.Join(disk, "ro"), []byte("keep me"))
}

// testAppendToFileMadeOnServer appends (`>>`) to a file that appeared on
// the server after ftpfs listed its directory: the cached listing says it
// is not there, but the append must add to the server's file, not
// replace it.
func testAppendToFileMadeOnServer(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	old := randomBytes(93, 300<<10)
	write(t, filepath.Join(disk, "late.log"), old)
	must(t, os.Chmod(filepath.Join(disk, "late.log"), 0o666)) // writable by the server's user, not only root
	f, err := os.OpenFile(filepath.Join(mnt, "late.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(t, err)
	_, err = f.Write([]byte("appended\n"))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	mustEqualFile(t, filepath.Join(disk, "late.log"), append(old, "appended\n"...))
}

// testOpenSurvives keeps files open while they are unlinked and renamed.
func testOpenSurvives(t *testing.T, env *writeEnv) {
	mnt, _ := env.dir(t)
	data := randomBytes(14, 2<<20)
	for _, op := range []string{"unlink", "rename"} {
		f := filepath.Join(mnt, op)
		write(t, f, data)
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if op == "unlink" {
			must(t, os.Remove(f))
		} else {
			must(t, os.Rename(f, f+".new"))
		}
		got := make([]byte, len(data))
		if _, err := fh.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: read through the open handle: %v", op, err)
		}
		fh.Close()
	}
}

// testUntarAndRsync unpacks a tree with tar and copies it with rsync, and
// compares the server's disk with the source.
func testUntarAndRsync(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	src := filepath.Join(t.TempDir(), "src")
	for i := 0; i < 120; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%7), fmt.Sprintf("e%d", i%3), fmt.Sprintf("f%03d.txt", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		write(t, p, randomBytes(uint64(i), i*97))
	}
	// A mode and a time that must survive: tar sets them before close, so
	// they travel with the upload.
	special := filepath.Join(src, "d0", "e0", "f000.txt")
	must(t, os.Chmod(special, 0o600))
	when := time.Date(2019, 7, 8, 9, 10, 11, 0, time.UTC)
	must(t, os.Chtimes(special, when, when))
	archive := filepath.Join(t.TempDir(), "src.tar")
	Run(t, time.Minute, "tar", "-cf", archive, "-C", src, ".")
	must(t, os.Mkdir(filepath.Join(mnt, "untar"), 0o755))
	Run(t, 2*time.Minute, "tar", "-xf", archive, "-C", filepath.Join(mnt, "untar"))
	Run(t, time.Minute, "diff", "-r", src, filepath.Join(disk, "untar"))
	fi, err := os.Stat(filepath.Join(disk, "untar", "d0", "e0", "f000.txt"))
	if err != nil || !fi.ModTime().Equal(when) {
		t.Errorf("time on the server after tar: %v, %v; want %v", fi.ModTime(), err, when)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode on the server after tar: %v, want 0600", fi.Mode().Perm())
	}
	Run(t, 2*time.Minute, "rsync", "-rt", src+"/", filepath.Join(mnt, "rsync")+"/")
	Run(t, time.Minute, "diff", "-r", src, filepath.Join(disk, "rsync"))
	Run(t, time.Minute, "diff", "-r", src, filepath.Join(mnt, "rsync"))
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
