package conn

import (
	"strings"
)

// maxArg is the longest path sent whole in a command. Servers bound the
// command line: pyftpdlib answers a line over 2,048 bytes with "500
// Command too long." (and the rest of the line as one more command);
// others have limits of their own, and a path of a few hundred bytes
// stays below any we know of. A longer path is sent as a name relative to
// its parent after changing into it, as curl does, and a long directory
// is entered a few components at a time.
const maxArg = 400

// arg returns the form of path to send in a command: the path itself
// when it is short, else its base name, with the session changed into its
// parent. A session's directory matters to nothing else: every other
// command names an absolute path.
func (s *Session) arg(path string) (string, error) {
	if len(path) <= maxArg {
		return path, nil
	}
	dir, base := splitPath(path)
	if err := s.chdir(dir); err != nil {
		return "", err
	}
	return base, nil
}

// splitPath splits an absolute path into its parent and base name.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}

// changeDirSteps enters dir, which is too long for one CWD: from the root,
// then relative steps of whole components, each at most maxArg bytes (a
// component longer than that, which no file system has, goes alone).
func (s *Session) changeDirSteps(dir string) error {
	if err := s.c.ChangeDir("/"); err != nil {
		return err
	}
	rest := strings.TrimPrefix(dir, "/")
	for rest != "" {
		step := rest
		if len(step) > maxArg {
			i := strings.LastIndexByte(rest[:maxArg+1], '/')
			if i <= 0 {
				if i = strings.IndexByte(rest, '/'); i < 0 {
					i = len(rest)
				}
			}
			step = rest[:i]
		}
		if err := s.c.ChangeDir(step); err != nil {
			return err
		}
		rest = strings.TrimPrefix(rest[len(step):], "/")
	}
	return nil
}

// renameArgs returns the forms of from and to for RNFR and RNTO: both
// must hold in the one directory the session is in. Two long paths in
// different directories cannot, and are ErrNameTooLong.
func (s *Session) renameArgs(from, to string) (string, string, error) {
	fromDir, fromBase := splitPath(from)
	toDir, toBase := splitPath(to)
	switch {
	case len(from) <= maxArg && len(to) <= maxArg:
		return from, to, nil
	case fromDir == toDir:
		if err := s.chdir(fromDir); err != nil {
			return "", "", err
		}
		return fromBase, toBase, nil
	case len(from) <= maxArg:
		a, err := s.arg(to)
		return from, a, err
	case len(to) <= maxArg:
		a, err := s.arg(from)
		return a, to, err
	}
	return "", "", &Error{Op: "rename", Path: from + " -> " + to, Err: ErrNameTooLong,
		Msg: "both paths are too long to send whole, and lie in different directories"}
}
