package fs

import (
	"context"
	"syscall"
)

// symlinkNode is a symbolic link as the server's listing names it.
type symlinkNode struct {
	node
}

// Readlink answers the target the listing gave. It is shown as the server
// has it: an absolute target points into the local tree, as with sshfs.
func (l *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	e := l.getEntry()
	if e.Target == "" {
		return nil, syscall.EIO
	}
	return []byte(e.Target), 0
}
