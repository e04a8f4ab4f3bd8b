package integration

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixUnsupported are the tests of go-fuse's posixtest that an FTP
// server cannot pass, each with the reason; README's table says the same.
var posixUnsupported = map[string]string{
	"Fallocate":           "FTP cannot reserve space",
	"FallocateKeepSize":   "FTP cannot reserve space",
	"FcntlFlockLocksFile": "FTP has no locks; ftpfs does not take part in POSIX locking",
	"Link":                "FTP has no hard links",
	"LinkUnlinkRename":    "FTP has no hard links",
	"OpenSymlinkRace":     "FTP has no portable way to create a symlink",
	"SetattrSymlink":      "FTP has no portable way to create a symlink",
	"SymlinkReadlink":     "FTP has no portable way to create a symlink",
}

// TestPosix runs go-fuse's posixtest suite against a real mount of each
// server kind.
func TestPosix(t *testing.T) {
	RequireFUSE(t)
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			srv := StartKind(t, kind, t.TempDir())
			m := MountServer(t, srv)
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					if why, ok := posixUnsupported[name]; ok {
						t.Skip(why)
					}
					dir := filepath.Join(m.Dir, name)
					must(t, os.Mkdir(dir, 0o755))
					posixtest.All[name](t, dir)
				})
			}
		})
	}
}
