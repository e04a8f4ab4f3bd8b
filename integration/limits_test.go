package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFileTooLarge checks the largest file size: truncate(2), ftruncate(2)
// and write(2) past 1 TiB answer EFBIG and leave the file as it was, and a
// write that crosses it is cut short at it, as on a local filesystem.
// Should the limit fail, nothing of a terabyte is uploaded: the sizes
// tried on the server's file are past what the spill file can hold (ext4:
// 16 TiB), and the file tried at the limit is removed before its close.
func TestFileTooLarge(t *testing.T) {
	RequireFUSE(t)
	const limit = 1 << 40
	const huge = 999999999999999 // 909 TiB
	for _, kind := range []string{KindInProcess, KindVsftpd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			p := filepath.Join(m.Dir, "f")
			write(t, p, []byte("hello\n"))
			if _, err := exec.LookPath("truncate"); err == nil {
				out, err := exec.Command("truncate", "-s", "999999999999999", p).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "File too large") {
					t.Errorf("truncate -s 999999999999999: %v, %s; want File too large", err, out)
				}
			}
			if err := syscall.Truncate(p, huge); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("truncate(2) to %d: %v, want EFBIG", huge, err)
			}
			if fi, err := os.Stat(p); err != nil || fi.Size() != 6 {
				t.Errorf("after the refusals the mount shows %v, %v; want 6 bytes", fi, err)
			}
			mustEqualFile(t, filepath.Join(root, "f"), []byte("hello\n"))

			big, err := os.Create(filepath.Join(m.Dir, "big"))
			must(t, err)
			defer big.Close()
			fd := int(big.Fd())
			if err := syscall.Ftruncate(fd, limit+1); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("ftruncate(2) to 1 TiB + 1: %v, want EFBIG", err)
			}
			if _, err := syscall.Pwrite(fd, []byte("x"), limit); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("write(2) at 1 TiB: %v, want EFBIG", err)
			}
			if fi, err := big.Stat(); err != nil || fi.Size() != 0 {
				t.Errorf("size after the refusals: %v, %v; want 0", fi, err)
			}
			n, err := syscall.Pwrite(fd, []byte("0123456789"), limit-4)
			if n != 4 || err != nil {
				t.Errorf("write(2) of 10 bytes 4 bytes before 1 TiB: %d, %v; want 4", n, err)
			}
			if fi, err := big.Stat(); err != nil || fi.Size() != limit {
				t.Errorf("size after the write across the limit: %v, %v; want %d", fi, err, int64(limit))
			}
			must(t, os.Remove(filepath.Join(m.Dir, "big")))
		})
	}
}
