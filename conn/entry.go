package conn

import (
	"io/fs"
	"time"
)

// EntryType says what kind of object a listing line describes.
type EntryType uint8

// The kinds of entries a listing can hold. Other covers devices, sockets and
// whatever else a server reports that is neither a file, a directory nor a link.
const (
	TypeFile EntryType = iota
	TypeDir
	TypeSymlink
	TypeOther
)

// String returns the lower-case name of the type, for logs.
func (t EntryType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	}
	return "other"
}

// Entry is one name in a directory listing, as the server described it.
// Fields a listing format does not carry are left at their zero value and
// the matching Has* flag stays false, so fs can fill in defaults.
type Entry struct {
	// Name is the raw byte string the server sent: it may be any encoding.
	Name string
	Type EntryType
	Size int64
	// ModTime is in UTC. MLSD gives seconds; LIST gives minutes for recent
	// files and only a day for old ones, which Pool.List replaces with
	// MDTM's seconds for files where the server has MDTM.
	ModTime time.Time
	// TimeGrain is how coarse ModTime is: 0 for seconds (MLSD, MDTM), a
	// minute for LIST's "Mon DD HH:MM" and DOS listings, a day for
	// "Mon DD YYYY". A time known to the second that falls within the
	// grain is as true as ModTime, and more exact.
	TimeGrain time.Duration
	// Perm holds the permission bits (fs.ModePerm plus setuid/setgid/sticky)
	// when HasPerm is set.
	Perm    fs.FileMode
	HasPerm bool
	HasTime bool
	// Target is the symlink target for TypeSymlink, when the listing says it.
	Target string
	// Unique is MLSD's "unique" fact (RFC 3659 section 7.5.2): the same
	// value for the same file, another after a rename over it or a swap
	// that keeps the size and time (pure-ftpd and proftpd give device and
	// inode). Empty where the listing has none.
	Unique string
}
