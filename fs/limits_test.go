package fs

import (
	"syscall"
	"testing"
)

// TestProbeFileSize checks that the largest file size follows what the
// cache directory can hold where that is less than maxFileSize: a file
// size limit (RLIMIT_FSIZE, which makes ftruncate fail with EFBIG as a
// small filesystem does) stands in for such a filesystem.
func TestProbeFileSize(t *testing.T) {
	dir := t.TempDir()
	if got := probeFileSize(dir, maxFileSize); got != maxFileSize {
		t.Fatalf("probe of %s (holds 1 TiB): %d, want %d", dir, got, int64(maxFileSize))
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	const small = 3<<30 + 12345
	lim := old
	lim.Cur = small
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip("cannot lower RLIMIT_FSIZE: ", err)
	}
	got := probeFileSize(dir, maxFileSize)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if got != small {
		t.Errorf("probe under a %d-byte file size limit: %d", int64(small), got)
	}
}
