package fs

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// maxFileSize is the largest file ftpfs lets an application make, in
// bytes: 1 TiB, the size statfs gives for the whole filesystem. A file
// being written lives in a spill file under cache_dir until its upload,
// sparse where it was never written, so the cache directory's filesystem
// must be able to hold a file of that size: ext4 holds 16 TiB, xfs,
// btrfs and tmpfs more. Where it holds less (vfat's 4 GiB, ext2/ext3
// with small blocks), fileLimit finds the smaller size and that is the
// limit. Past it, truncate(2), ftruncate(2) and write(2) answer EFBIG and
// leave the file as it was, as local filesystems do past their largest
// file; a write that crosses it is cut short at it. FUSE itself passes
// sizes up to 8 EiB.
const maxFileSize = 1 << 40

// probeFloor is the size below which no probe of the cache directory is
// made: every filesystem a cache directory may be on holds a sparse file
// of 2 GiB (vfat's limit is 4 GiB).
const probeFloor = 2 << 30

// fileLimit is the largest file size the cache directory can hold, up to
// maxFileSize, found on first need.
type fileLimit struct {
	once sync.Once
	max  int64
}

// fileSizeErrno returns EFBIG for a file size past the limit.
func (f *fsys) fileSizeErrno(size int64) syscall.Errno {
	if size > f.maxFileSize(size) {
		return syscall.EFBIG
	}
	return 0
}

// writeLimit cuts a write of data at off at the largest file size, as
// write(2) on a local filesystem does: a write starting at or past it is
// EFBIG, one crossing it writes what fits.
func (f *fsys) writeLimit(data []byte, off int64) ([]byte, syscall.Errno) {
	end := off + int64(len(data))
	limit := f.maxFileSize(end)
	switch {
	case end <= limit:
		return data, 0
	case off >= limit:
		return nil, syscall.EFBIG
	}
	return data[:limit-off], 0
}

// maxFileSize returns the largest file size, probing the cache directory
// the first time a size past probeFloor is asked for.
func (f *fsys) maxFileSize(size int64) int64 {
	if size <= probeFloor {
		return maxFileSize
	}
	f.limit.once.Do(func() {
		f.limit.max = probeFileSize(f.opts.CacheDir, maxFileSize)
		if f.limit.max < maxFileSize {
			f.log.Info("the cache directory's filesystem holds smaller files than ftpfs's limit: files written are limited to its size",
				"cache_dir", f.opts.CacheDir, "bytes", f.limit.max)
		}
	})
	return f.limit.max
}

// probeFileSize returns the largest sparse file size up to limit that a
// file under dir can be truncated to (no disk space is used), found by
// bisection where limit itself is refused with EFBIG (or EINVAL, which
// some filesystems answer). Where no file can be made there, it returns
// limit: the spill file will fail then, with its own error.
func probeFileSize(dir string, limit int64) int64 {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return limit
	}
	fl, err := os.CreateTemp(dir, "size-probe-")
	if err != nil {
		return limit
	}
	defer os.Remove(fl.Name())
	defer fl.Close()
	fits := func(n int64) bool {
		err := fl.Truncate(n)
		return err == nil || !(errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EINVAL))
	}
	if fits(limit) {
		return limit
	}
	lo, hi := int64(probeFloor), limit // lo fits, hi does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
