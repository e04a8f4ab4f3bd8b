package fs

import fusefs "github.com/hanwen/go-fuse/v2/fs"

// The operations each node and handle type must implement; a missing one
// would silently fall back to go-fuse's defaults.
var (
	_ fusefs.NodeGetattrer      = (*node)(nil)
	_ fusefs.NodeStatfser       = (*node)(nil)
	_ fusefs.NodeOnAdder        = (*node)(nil)
	_ fusefs.NodeOnForgetter    = (*node)(nil)
	_ fusefs.NodeLookuper       = (*dirNode)(nil)
	_ fusefs.NodeOpendirHandler = (*dirNode)(nil)
	_ fusefs.FileReaddirenter   = (*dirHandle)(nil)
	_ fusefs.FileLookuper       = (*dirHandle)(nil)
	_ fusefs.FileSeekdirer      = (*dirHandle)(nil)
	_ fusefs.FileFsyncdirer     = (*dirHandle)(nil)
	_ fusefs.NodeOpener         = (*fileNode)(nil)
	_ fusefs.NodeLseeker        = (*fileNode)(nil)
	_ fusefs.FileReader         = (*fileHandle)(nil)
	_ fusefs.FileReleaser       = (*fileHandle)(nil)
	_ fusefs.NodeReadlinker     = (*symlinkNode)(nil)
)
