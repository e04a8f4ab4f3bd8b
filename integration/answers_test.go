package integration

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// answerKinds are the servers the tests of local-filesystem answers run
// against: the in-process server, and vsftpd (LIST) and pure-ftpd (MLSD).
func answerKinds() []string {
	return []string{KindInProcess, KindVsftpd, KindPureFTPd}
}

// fsyncDir is fsync(2) on a directory, as borg and other careful writers
// call it after a rename (python3: os.fsync(os.open(dir, os.O_RDONLY))).
func fsyncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return syscall.Fsync(fd)
}

// TestFsyncDir checks that fsync(2) on a directory answers 0, as on a
// local filesystem (go-fuse's default is EOPNOTSUPP), once what was
// created in the directory is on the server: a file created and still
// open is uploaded with what it holds so far.
func TestFsyncDir(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range answerKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			d := filepath.Join(m.Dir, "d")
			must(t, os.Mkdir(d, 0o755))
			if err := fsyncDir(m.Dir); err != nil {
				t.Fatalf("fsync of the mount's root: %v, want success", err)
			}
			// borg's pattern: write a temporary file, fsync it, rename it,
			// fsync the directory.
			write(t, filepath.Join(d, "seg.tmp"), []byte("segment\n"))
			must(t, os.Rename(filepath.Join(d, "seg.tmp"), filepath.Join(d, "seg")))
			if err := fsyncDir(d); err != nil {
				t.Fatalf("fsync of a directory after a rename: %v, want success", err)
			}
			mustEqualFile(t, filepath.Join(root, "d", "seg"), []byte("segment\n"))

			// A file created and not closed: its name reaches the server.
			f, err := os.Create(filepath.Join(d, "open"))
			must(t, err)
			defer f.Close()
			_, err = f.Write([]byte("so far\n"))
			must(t, err)
			if _, err := os.Stat(filepath.Join(root, "d", "open")); err == nil {
				t.Fatalf("the server has the open file before any fsync: the test shows nothing")
			}
			if err := fsyncDir(d); err != nil {
				t.Fatalf("fsync of a directory with a file open: %v", err)
			}
			mustEqualFile(t, filepath.Join(root, "d", "open"), []byte("so far\n"))
			_, err = f.Write([]byte("and the rest\n"))
			must(t, err)
			must(t, f.Close())
			mustEqualFile(t, filepath.Join(root, "d", "open"), []byte("so far\nand the rest\n"))
		})
	}
}

// TestFsyncDirWriteback checks that with -o writeback fsync(2) on a
// directory returns once the uploads journaled below it are on the
// server: the server's disk is read right after it returns. The uploads
// to the real servers go through a throttled link (the in-process server
// cannot stand behind the fault proxy: it listens for passive
// connections on every address); to the in-process one they are larger.
func TestFsyncDirWriteback(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd, KindPureFTPd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			size := 32 << 20
			var proxy *FaultProxy
			if kind != KindInProcess {
				proxy, srv = ProxyServer(t, srv)
				size = 256 << 10
			}
			m := MountServer(t, srv, "writeback")
			d := filepath.Join(m.Dir, "d")
			must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
			if proxy != nil {
				proxy.Throttle(1 << 20)
			}
			want := map[string][]byte{}
			for i, name := range []string{"a", "b", "sub/c"} {
				want[name] = randomBytes(uint64(40+i), size)
				write(t, filepath.Join(d, name), want[name])
			}
			start := time.Now()
			if err := fsyncDir(d); err != nil {
				t.Fatalf("fsync of a directory with uploads queued: %v", err)
			}
			took := time.Since(start)
			// The last written first: its upload started last.
			for _, name := range []string{"sub/c", "b", "a"} {
				mustEqualFile(t, filepath.Join(root, "d", name), want[name])
			}
			t.Logf("fsync of the directory returned after %v, with the uploads on the server", took)
		})
	}
}

// TestSeekDataHole checks lseek(2)'s SEEK_DATA and SEEK_HOLE as ext4
// answers them for a file without holes: data up to the end, a hole at
// the end, ENXIO at or past the end (go-fuse's default gives the end for
// SEEK_HOLE at the end); also while the file is being written.
func TestSeekDataHole(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range answerKinds() {
		t.Run(kind, func(t *testing.T) {
			srv := StartKind(t, kind, t.TempDir())
			m := MountServer(t, srv)
			p := filepath.Join(m.Dir, "f")
			write(t, p, randomBytes(3, 10000))
			check := func(what string, fd int, size int64) {
				t.Helper()
				for _, c := range []struct {
					off, whence int
					want        int64 // -1: ENXIO
				}{
					{0, unix.SEEK_DATA, 0}, {0, unix.SEEK_HOLE, size},
					{int(size) - 1, unix.SEEK_DATA, size - 1}, {int(size) - 1, unix.SEEK_HOLE, size},
					{int(size), unix.SEEK_DATA, -1}, {int(size), unix.SEEK_HOLE, -1},
					{int(size) + 1, unix.SEEK_HOLE, -1},
				} {
					got, err := unix.Seek(fd, int64(c.off), c.whence)
					if c.want < 0 && !errors.Is(err, syscall.ENXIO) || c.want >= 0 && (err != nil || got != c.want) {
						t.Errorf("%s: lseek(%d, whence %d) = %d, %v; want %d (-1: ENXIO)", what, c.off, c.whence, got, err, c.want)
					}
				}
			}
			f, err := os.Open(p)
			must(t, err)
			check("a file read", int(f.Fd()), 10000)
			must(t, f.Close())
			f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write(make([]byte, 5000))
			must(t, err)
			check("a file being written", int(f.Fd()), 15000)
			must(t, f.Close())
		})
	}
}
