// Package mountinfo reads the kernel's table of mounts,
// /proc/self/mountinfo, for ftpfs (is the mount point already taken?) and
// for its tests (is the mount up yet, or gone?). It imports nothing of
// ftpfs; its functions keep no state and are safe for concurrent use.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo: the fields ftpfs needs, unescaped.
type Mount struct {
	// Point is the absolute path the filesystem is mounted at.
	Point string
	// FSType is the type, "fuse.ftpfs" for an ftpfs mount (FUSE adds the
	// subtype after a dot).
	FSType string
	// Source is the mount source, as given to mount(2).
	Source string
	// Super is the superblock's options, comma-separated: a FUSE mount's
	// user_id=UID names the user who mounted it.
	Super string
	// Dev is the device, "major:minor"; a FUSE mount's minor names its
	// connection under /sys/fs/fuse/connections.
	Dev string
}

// Option returns the value of the superblock option name ("user_id").
func (m Mount) Option(name string) (string, bool) {
	for _, o := range strings.Split(m.Super, ",") {
		if v, ok := strings.CutPrefix(o, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Parse reads mountinfo lines (proc(5)): the mount point is the fifth
// field, and the type and source follow the "-" that ends the optional
// fields, whose number varies. A line too short to hold them is an error,
// so that a changed format is noticed rather than read as "not mounted".
func Parse(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("mountinfo line %d: no type and source after the fields: %q", n, sc.Text())
		}
		m := Mount{Point: unescape(f[4]), FSType: unescape(f[sep+1]), Source: unescape(f[sep+2]), Dev: f[2]}
		if sep+3 < len(f) {
			m.Super = f[sep+3]
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

// Read returns the mounts this process sees.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// IsMountPoint reports whether dir (made absolute) is a mount point. It
// reports false when mountinfo cannot be read: callers use it to refuse or
// to wait, and a missing /proc should not stop a mount.
func IsMountPoint(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	mounts, err := Read()
	if err != nil {
		return false
	}
	for _, m := range mounts {
		if m.Point == abs {
			return true
		}
	}
	return false
}

// unescape undoes the kernel's octal escapes of space, tab, newline and
// backslash (\040, \011, \012, \134) in paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
