package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNameTooLong checks that a name longer than 255 bytes gets
// ENAMETOOLONG from every operation that takes one, as on a local
// filesystem, and that a name of 255 bytes works.
func TestNameTooLong(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range answerKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			long := filepath.Join(m.Dir, strings.Repeat("n", 256))
			file, dir := filepath.Join(m.Dir, "file"), filepath.Join(m.Dir, "dir")
			write(t, file, []byte("x\n"))
			must(t, os.Mkdir(dir, 0o755))
			ops := []struct {
				name string
				do   func() error
			}{
				{"lookup (stat)", func() error { _, err := os.Lstat(long); return err }},
				{"create", func() error {
					fd, err := syscall.Open(long, syscall.O_CREAT|syscall.O_WRONLY, 0o644)
					if err == nil {
						syscall.Close(fd)
					}
					return err
				}},
				{"mkdir", func() error { return syscall.Mkdir(long, 0o755) }},
				{"rename from", func() error { return syscall.Rename(long, file+".2") }},
				{"rename to", func() error { return syscall.Rename(file, long) }},
				{"rename a directory to", func() error { return syscall.Rename(dir, long) }},
				{"unlink", func() error { return syscall.Unlink(long) }},
				{"rmdir", func() error { return syscall.Rmdir(long) }},
				{"truncate", func() error { return syscall.Truncate(long, 0) }},
				{"name inside", func() error { _, err := os.Lstat(filepath.Join(long, "x")); return err }},
			}
			for _, op := range ops {
				if err := op.do(); !errors.Is(err, syscall.ENAMETOOLONG) {
					t.Errorf("%s of a 256-byte name: %v, want ENAMETOOLONG", op.name, err)
				}
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("the file a refused rename would have moved: %v", err)
			}
			// 255 bytes is a name like any other.
			name255 := strings.Repeat("m", 255)
			ok := filepath.Join(m.Dir, name255)
			write(t, ok, []byte("fits\n"))
			mustEqualFile(t, filepath.Join(root, name255), []byte("fits\n"))
			must(t, os.Rename(ok, ok[:len(ok)-1]))
			must(t, os.Remove(ok[:len(ok)-1]))
		})
	}
}
