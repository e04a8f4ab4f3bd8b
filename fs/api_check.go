package fs

import fusefs "github.com/hanwen/go-fuse/v2/fs"

// Every go-fuse interface that a node or handle type implements, listed so
// that a method whose name or signature drifts from go-fuse's fails to
// compile instead of silently falling back to go-fuse's default (ENOTSUP,
// or an answer made up from the stable attributes). A new operation goes
// here with its method; TestAPICheckComplete finds one that does not.
var (
	// Every node.
	_ fusefs.NodeGetattrer   = (*node)(nil)
	_ fusefs.NodeSetattrer   = (*node)(nil)
	_ fusefs.NodeStatfser    = (*node)(nil)
	_ fusefs.NodeOnAdder     = (*node)(nil)
	_ fusefs.NodeOnForgetter = (*node)(nil)

	// Directories and their handles.
	_ fusefs.NodeGetattrer      = (*dirNode)(nil)
	_ fusefs.NodeSetattrer      = (*dirNode)(nil)
	_ fusefs.NodeLookuper       = (*dirNode)(nil)
	_ fusefs.NodeOpendirHandler = (*dirNode)(nil)
	_ fusefs.NodeCreater        = (*dirNode)(nil)
	_ fusefs.NodeMkdirer        = (*dirNode)(nil)
	_ fusefs.NodeUnlinker       = (*dirNode)(nil)
	_ fusefs.NodeRmdirer        = (*dirNode)(nil)
	_ fusefs.NodeRenamer        = (*dirNode)(nil)
	_ fusefs.FileReaddirenter   = (*dirHandle)(nil)
	_ fusefs.FileLookuper       = (*dirHandle)(nil)
	_ fusefs.FileSeekdirer      = (*dirHandle)(nil)
	_ fusefs.FileFsyncdirer     = (*dirHandle)(nil)

	// Files and their handles.
	_ fusefs.NodeGetattrer      = (*fileNode)(nil)
	_ fusefs.NodeSetattrer      = (*fileNode)(nil)
	_ fusefs.NodeOpener         = (*fileNode)(nil)
	_ fusefs.NodeLseeker        = (*fileNode)(nil)
	_ fusefs.NodeCopyFileRanger = (*fileNode)(nil)
	_ fusefs.FileReader         = (*fileHandle)(nil)
	_ fusefs.FileWriter         = (*fileHandle)(nil)
	_ fusefs.FileFlusher        = (*fileHandle)(nil)
	_ fusefs.FileFsyncer        = (*fileHandle)(nil)
	_ fusefs.FileReleaser       = (*fileHandle)(nil)

	// Symlinks.
	_ fusefs.NodeReadlinker = (*symlinkNode)(nil)
)
