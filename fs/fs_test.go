package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

// fakeRemote serves an in-memory tree: directory path -> entries, file
// path -> contents. It counts listings.
type fakeRemote struct {
	mu    sync.Mutex
	dirs  map[string][]conn.Entry
	files map[string]string
	lists atomic.Int64
	// hold, when set, makes List take its answer, then wait for the
	// channel to close before returning it: a listing asked for before a
	// change and arriving after it.
	hold chan struct{}
	// holdBelow, when set, makes listings of the directories below it
	// wait until their context ends, as a server that never answers.
	holdBelow string
	// storeGate, when set, makes Store wait for it to close.
	storeGate chan struct{}
	stores    atomic.Int64
	// listErr, when it has dir, is what List answers for it.
	listErr map[string]error
	// copyErr, when set, is what Copy answers; copies counts the calls.
	copyErr error
	copies  atomic.Int64
	// streams counts StoreStream and Append calls.
	streams atomic.Int64
	// retrs counts reads of files (each ReadAt, as a transfer).
	retrs atomic.Int64
}

func (r *fakeRemote) List(ctx context.Context, dir string) ([]conn.Entry, error) {
	r.lists.Add(1)
	r.mu.Lock()
	hold := r.hold
	ents, ok := r.dirs[dir]
	ents = append([]conn.Entry(nil), ents...)
	lerr := r.listErr[dir]
	below := r.holdBelow != "" && strings.HasPrefix(dir, r.holdBelow+"/")
	r.mu.Unlock()
	if lerr != nil {
		return nil, lerr
	}
	if hold != nil {
		<-hold
	}
	if below {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if !ok {
		return nil, &conn.Error{Op: "list", Path: dir, Code: 550, Msg: "No such file or directory"}
	}
	return ents, nil
}

func (r *fakeRemote) OpenFile(path string, size int64) conn.FileReader {
	return &fakeFile{r: r, path: path}
}

type fakeFile struct {
	r    *fakeRemote
	path string
}

func (f *fakeFile) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	f.r.retrs.Add(1)
	f.r.mu.Lock()
	data, ok := f.r.files[f.path]
	f.r.mu.Unlock()
	if !ok {
		return 0, &conn.Error{Op: "retr", Path: f.path, Code: 550, Msg: "No such file"}
	}
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	return copy(b, data[off:]), nil
}

func (f *fakeFile) Close() error { return nil }

// The fake's write side: enough for the unit tests, which test reads and
// the cache; writing is tested against real servers in integration.
func (r *fakeRemote) Store(ctx context.Context, p string, src io.ReaderAt, size int64, a conn.Attrs) (conn.Applied, error) {
	r.stores.Add(1)
	if r.storeGate != nil {
		<-r.storeGate
	}
	b := make([]byte, size)
	if _, err := src.ReadAt(b, 0); err != nil && err != io.EOF {
		return conn.Applied{}, err
	}
	r.mu.Lock()
	r.files[p] = string(b)
	r.mu.Unlock()
	return conn.Applied{}, nil
}

func (r *fakeRemote) StoreStream(ctx context.Context, p string, src io.Reader, attrs func() conn.Attrs) (conn.Applied, error) {
	r.streams.Add(1)
	b, err := io.ReadAll(src)
	if err != nil {
		return conn.Applied{}, err
	}
	r.mu.Lock()
	r.files[p] = string(b)
	r.mu.Unlock()
	return conn.Applied{}, nil
}

func (r *fakeRemote) Append(ctx context.Context, p string, src io.ReaderAt, off, size int64, a conn.Attrs) (conn.Applied, error) {
	r.streams.Add(1)
	b := make([]byte, size-off)
	if _, err := src.ReadAt(b, off); err != nil && err != io.EOF {
		return conn.Applied{}, err
	}
	r.mu.Lock()
	r.files[p] += string(b)
	r.mu.Unlock()
	return conn.Applied{}, nil
}

// Copy copies as proftpd's mod_copy does, unless copyErr says otherwise.
func (r *fakeRemote) Copy(ctx context.Context, from, to string, size int64, a conn.Attrs) (conn.Applied, error) {
	r.copies.Add(1)
	if r.copyErr != nil {
		return conn.Applied{}, r.copyErr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	data, ok := r.files[from]
	if !ok {
		return conn.Applied{}, &conn.Error{Op: "site cpfr", Path: from, Code: 550, Msg: "No such file"}
	}
	if int64(len(data)) != size {
		return conn.Applied{}, &conn.Error{Op: "site cpto", Path: to, Err: conn.ErrTransient, Msg: "size changed"}
	}
	r.files[to] = data
	return conn.Applied{}, nil
}

func (r *fakeRemote) Rename(ctx context.Context, from, to string) error { return errors.ErrUnsupported }
func (r *fakeRemote) Delete(ctx context.Context, p string) error        { return errors.ErrUnsupported }
func (r *fakeRemote) MakeDir(ctx context.Context, p string) error       { return errors.ErrUnsupported }
func (r *fakeRemote) RemoveDir(ctx context.Context, p string) error     { return errors.ErrUnsupported }
func (r *fakeRemote) SetTime(ctx context.Context, p string, t time.Time) error {
	return conn.ErrNotSupported
}
func (r *fakeRemote) Chmod(ctx context.Context, p string, mode uint32) error {
	return conn.ErrNotSupported
}

// testMount mounts r in-process on a temporary directory.
func testMount(t *testing.T, r Remote, ttl time.Duration) string {
	return testMountOpts(t, r, Options{Source: "fake:/", RemoteRoot: "/", CacheTTL: ttl, UID: 7, GID: 8})
}

// skipWithoutMount skips a test that mounts where this process cannot.
func skipWithoutMount(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	if os.Geteuid() != 0 {
		t.Skip("fs mount tests run as root (direct mount)")
	}
}

func testMountOpts(t *testing.T, r Remote, opts Options) string {
	t.Helper()
	skipWithoutMount(t)
	mnt := t.TempDir()
	srv, err := Mount(mnt, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(5 * time.Second); err != nil {
			t.Errorf("unmount: %v", err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		srv.Wait()
		srv.Close()
	})
	return mnt
}

func bigRemote(n int) *fakeRemote {
	r := &fakeRemote{dirs: map[string][]conn.Entry{}, files: map[string]string{}}
	r.dirs["/"] = []conn.Entry{{Name: "d", Type: conn.TypeDir}, {Name: "hello", Type: conn.TypeFile, Size: 6},
		{Name: "ln", Type: conn.TypeSymlink, Target: "hello"}}
	r.files["/hello"] = "hello\n"
	for i := 0; i < n; i++ {
		r.dirs["/d"] = append(r.dirs["/d"], conn.Entry{Name: fmt.Sprintf("f%04d", i), Type: conn.TypeFile, Size: int64(i)})
	}
	return r
}

// TestListingServesLookups checks that listing a directory and stating
// every entry, as ls -l does, costs one listing, even with caching off.
func TestListingServesLookups(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(ttl.String(), func(t *testing.T) {
			r := bigRemote(500)
			// A clock that stands still: however slow the machine, the
			// stats come within the second a listing serves.
			clk := newTestClock()
			mnt := testMountOpts(t, r, Options{Source: "fake:/", RemoteRoot: "/", CacheTTL: ttl, UID: 7, GID: 8, clock: clk.now})
			if _, err := os.Stat(filepath.Join(mnt, "d")); err != nil {
				t.Fatal(err)
			}
			before := r.lists.Load()
			ents, err := os.ReadDir(filepath.Join(mnt, "d"))
			if err != nil || len(ents) != 500 {
				t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
			}
			for _, e := range ents {
				fi, err := e.Info()
				if err != nil || fi.Size() != int64(atoi(t, strings.TrimPrefix(e.Name(), "f"))) {
					t.Fatalf("%s: %v %v", e.Name(), fi, err)
				}
			}
			// With caching off a listing still serves for a second.
			if n := r.lists.Load() - before; n != 1 {
				t.Errorf("%d listings for readdir plus stats, want 1", n)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNegativeLookupsAreCached(t *testing.T) {
	r := bigRemote(3)
	mnt := testMount(t, r, time.Minute)
	for i := 0; i < 20; i++ {
		if _, err := os.Stat(filepath.Join(mnt, fmt.Sprintf("missing%d", i))); !errors.Is(err, iofs.ErrNotExist) {
			t.Fatalf("stat of a missing file: %v", err)
		}
	}
	if n := r.lists.Load(); n != 1 {
		t.Errorf("%d listings for 20 missing names, want 1", n)
	}
}

func TestAttributesAndRead(t *testing.T) {
	r := bigRemote(0)
	mnt := testMount(t, r, time.Minute)
	fi, err := os.Lstat(filepath.Join(mnt, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Size() != 6 || fi.Mode().Perm() != 0o644 || st.Uid != 7 || st.Gid != 8 || st.Nlink != 1 {
		t.Errorf("attributes: size %d mode %v uid %d gid %d nlink %d", fi.Size(), fi.Mode(), st.Uid, st.Gid, st.Nlink)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "hello")); err != nil || string(b) != "hello\n" {
		t.Errorf("read: %q, %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(mnt, "ln")); err != nil || target != "hello" {
		t.Errorf("readlink: %q, %v", target, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("bye\n"), 0o644); err != nil {
		t.Errorf("write: %v", err)
	}
	r.mu.Lock()
	got := r.files["/hello"]
	r.mu.Unlock()
	if got != "bye\n" {
		t.Errorf("server has %q after the write", got)
	}
	if _, err := os.ReadDir(filepath.Join(mnt, "nodir")); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("readdir of a missing dir: %v", err)
	}
}

func TestErrno(t *testing.T) {
	f := newFsys(&fakeRemote{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{&conn.Error{Code: 550, Msg: "No such file"}, syscall.ENOENT},
		{&conn.Error{Code: 550, Msg: "Permission denied"}, syscall.EACCES},
		{&conn.Error{Code: 552, Msg: "Quota"}, syscall.ENOSPC},
		{&conn.Error{Code: 502, Msg: "Not implemented"}, syscall.ENOTSUP},
		{&conn.Error{Code: 500, Msg: "Command too long."}, syscall.ENAMETOOLONG},
		{&conn.Error{Code: 451, Msg: "/f: Append/Restart not permitted, try again"}, syscall.EACCES},
		{&conn.Error{Code: 421, Msg: "Bye"}, syscall.EIO},
		{&conn.Error{Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, Msg: "reset"}, syscall.EIO},
		{fmt.Errorf("wrapped: %w", &conn.Error{Code: 553, Msg: "bad name"}), syscall.EACCES},
		{context.Canceled, syscall.EINTR},
		{syscall.EROFS, syscall.EROFS},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := f.errno("op", "/p", c.err); got != c.want {
			t.Errorf("errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestErrnoUnclear550 checks that a 550 that does not say why (vsftpd's
// "Failed to open file." for a file of mode 000) is EACCES for a name the
// parent's listing holds, and ENOENT for one it does not.
func TestErrnoUnclear550(t *testing.T) {
	r := &fakeRemote{dirs: map[string][]conn.Entry{
		"/":  {{Name: "locked", Type: conn.TypeFile}, {Name: "dir", Type: conn.TypeDir}},
		"/d": {},
	}, listErr: map[string]error{
		"/dir": &conn.Error{Op: "cwd", Path: "/dir", Code: 550, Msg: "Failed to change directory."},
	}}
	f := newFsys(r, Options{RemoteRoot: "/", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cases := []struct {
		path string
		err  error
		want syscall.Errno
	}{
		{"/locked", &conn.Error{Op: "retr", Code: 550, Msg: "Failed to open file."}, syscall.EACCES},
		{"/dir", &conn.Error{Op: "cwd", Code: 550, Msg: "Failed to change directory."}, syscall.EACCES},
		{"/dir", &conn.Error{Op: "list", Code: 550, Msg: "Can't check for file existence"}, syscall.EACCES},
		{"/gone", &conn.Error{Op: "retr", Code: 550, Msg: "Failed to open file."}, syscall.ENOENT},
		{"/d/gone", &conn.Error{Op: "retr", Code: 550, Msg: "Failed to open file."}, syscall.ENOENT},
		{"/locked", &conn.Error{Op: "retr", Code: 550, Msg: "No such file or directory"}, syscall.ENOENT},
		{"/nodir/x", &conn.Error{Op: "retr", Code: 550, Msg: "Failed to open file."}, syscall.ENOENT},
		// A name in a directory that cannot be entered, as local
		// permissions do: the directory is refused, so is the name.
		{"/dir/x", &conn.Error{Op: "cwd", Code: 550, Msg: "Failed to change directory."}, syscall.EACCES},
	}
	for _, c := range cases {
		if got := f.errno("op", c.path, c.err); got != c.want {
			t.Errorf("errno(%s, %v) = %v, want %v", c.path, c.err, got, c.want)
		}
	}
}

func TestPermissions(t *testing.T) {
	f := newFsys(&fakeRemote{}, Options{})
	masked := newFsys(&fakeRemote{}, Options{Umask: 0o027, HasUmask: true})
	cases := []struct {
		fs   *fsys
		e    conn.Entry
		want uint32
	}{
		{f, conn.Entry{Type: conn.TypeFile}, 0o644},
		{f, conn.Entry{Type: conn.TypeDir}, 0o755},
		{f, conn.Entry{Type: conn.TypeFile, Perm: 0o600, HasPerm: true}, 0o600},
		{f, conn.Entry{Type: conn.TypeSymlink, Target: "x"}, 0o777},
		{masked, conn.Entry{Type: conn.TypeFile}, 0o640},
		{masked, conn.Entry{Type: conn.TypeDir}, 0o750},
		{masked, conn.Entry{Type: conn.TypeFile, Perm: 0o666, HasPerm: true}, 0o640},
	}
	for _, c := range cases {
		if got := c.fs.perm(c.e); got != c.want {
			t.Errorf("perm(%+v) = %o, want %o", c.e, got, c.want)
		}
	}
}

// TestStaleListingDoesNotShrinkAFile: a listing asked for while a file was
// being uploaded, and arriving after, must not make the file look as it
// was then (the soak test once read a just-written file as empty).
func TestStaleListingDoesNotShrinkAFile(t *testing.T) {
	r := bigRemote(0)
	// The server's listing keeps saying what it said while the upload ran.
	r.dirs["/"] = append(r.dirs["/"], conn.Entry{Name: "f", Type: conn.TypeFile, Size: 0})
	clk := newTestClock()
	mnt := testMountOpts(t, r, Options{Source: "fake:/", RemoteRoot: "/", CacheTTL: 2 * time.Second, clock: clk.now})
	data := strings.Repeat("x", 1000)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	fh, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY|os.O_TRUNC, 0)
	must(err)
	clk.advance(2100 * time.Millisecond) // the cached listing expires
	r.mu.Lock()
	hold := make(chan struct{})
	r.hold = hold
	r.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := os.ReadDir(mnt) // asks for a listing, which waits
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_, err = fh.Write([]byte(data))
	must(err)
	must(fh.Close()) // uploaded now, after the listing was asked for
	r.mu.Lock()
	r.hold = nil
	r.mu.Unlock()
	close(hold)
	must(<-done)
	fi, err := os.Stat(filepath.Join(mnt, "f"))
	must(err)
	if fi.Size() != int64(len(data)) {
		t.Fatalf("size after a stale listing: %d, want %d", fi.Size(), len(data))
	}
	b, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || string(b) != data {
		t.Fatalf("read after a stale listing: %d bytes, %v", len(b), err)
	}
}

// TestPrefetchSubdirs: reading a directory lists its subdirectories ahead
// of time, so that a walk finds them cached.
func TestPrefetchSubdirs(t *testing.T) {
	r := bigRemote(0)
	for _, d := range []string{"/a", "/b", "/c"} {
		r.dirs["/"] = append(r.dirs["/"], conn.Entry{Name: d[1:], Type: conn.TypeDir})
		r.dirs[d] = []conn.Entry{{Name: "x", Type: conn.TypeFile}}
	}
	r.dirs["/d"] = nil
	mnt := testMountOpts(t, r, Options{RemoteRoot: "/", CacheTTL: time.Minute, PrefetchConns: 2})
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.lists.Load() < 5 { // the root, d, a, b, c
		if time.Now().After(deadline) {
			t.Fatalf("%d listings after reading the root, want 5", r.lists.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := r.lists.Load()
	for _, d := range []string{"a", "b", "c", "d"} {
		if _, err := os.ReadDir(filepath.Join(mnt, d)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.lists.Load() - before; n != 0 {
		t.Errorf("%d listings for subdirectories already fetched ahead", n)
	}
}

// TestPrefetchCousins checks that a walk opening a directory that was
// listed ahead gets the subdirectories of that directory's siblings listed
// ahead too, and that the mount lists its root while mounting.
func TestPrefetchCousins(t *testing.T) {
	r := &fakeRemote{dirs: map[string][]conn.Entry{}, files: map[string]string{}}
	r.dirs["/"] = []conn.Entry{{Name: "p", Type: conn.TypeDir}}
	for _, d := range []string{"a", "b", "c"} {
		r.dirs["/p"] = append(r.dirs["/p"], conn.Entry{Name: d, Type: conn.TypeDir})
		r.dirs["/p/"+d] = []conn.Entry{{Name: "x", Type: conn.TypeDir}}
		r.dirs["/p/"+d+"/x"] = nil
	}
	mnt := testMountOpts(t, r, Options{RemoteRoot: "/", CacheTTL: time.Minute, PrefetchConns: 2})
	if n := r.lists.Load(); n != 1 {
		t.Fatalf("%d listings once mounted, want 1 (the root)", n)
	}
	waitLists := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for r.lists.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d listings %s, want %d", r.lists.Load(), what, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := os.ReadDir(filepath.Join(mnt, "p")); err != nil {
		t.Fatal(err)
	}
	waitLists(5, "after reading /p (the root, p, a, b, c)")
	if _, err := os.ReadDir(filepath.Join(mnt, "p", "a")); err != nil {
		t.Fatal(err)
	}
	// a/x, and the cousins b/x and c/x.
	waitLists(8, "after reading /p/a, which was listed ahead")
}

// TestCloseEndsBackgroundWork: listings ahead that a server never answers
// end when the mount is closed, instead of outliving it (the package's
// TestMain checks that no goroutine is left).
func TestCloseEndsBackgroundWork(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("fs mount tests run as root with /dev/fuse")
	}
	r := bigRemote(0)
	r.dirs["/a"] = []conn.Entry{{Name: "s1", Type: conn.TypeDir}, {Name: "s2", Type: conn.TypeDir}}
	r.dirs["/"] = append(r.dirs["/"], conn.Entry{Name: "a", Type: conn.TypeDir})
	r.holdBelow = "/a"
	mnt := t.TempDir()
	srv, err := Mount(mnt, r, Options{RemoteRoot: "/", CacheTTL: time.Minute, PrefetchConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	before := r.lists.Load()
	if _, err := os.ReadDir(filepath.Join(mnt, "a")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); r.lists.Load() < before+3; {
		if time.Now().After(deadline) {
			t.Fatalf("the subdirectories were not listed ahead: %d listings", r.lists.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Unmount(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits for listings ahead after 5 s")
	}
}

// testClock is a mount's clock that a test moves by hand, instead of
// sleeping until a listing expires.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
