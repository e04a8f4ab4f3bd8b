package conn

import (
	"context"
	"errors"
	"time"
)

// MaxListEntries bounds one directory listing: a hostile or broken server
// must not grow the process without bound.
const MaxListEntries = 1 << 20

// List returns the entries of the directory dir, an absolute path, with
// "." and ".." left out.
func (p *Pool) List(ctx context.Context, dir string) ([]Entry, error) {
	dir, err := p.cc.toServer("list", dir)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	err = p.do(ctx, "list", dir, func(s *Session) error {
		var err error
		entries, err = s.list(dir, p)
		return err
	})
	for i := range entries {
		entries[i].Name = p.cc.fromServer(entries[i].Name)
		entries[i].Target = p.cc.fromServer(entries[i].Target)
	}
	return entries, err
}

// list runs MLSD, or LIST where the server lacks it. LIST takes options
// and globs in its argument on many servers (a directory named "-l" or
// "[a]" would be misread), so for LIST the session changes into the
// directory and lists it without an argument. A server that offers MLST in
// FEAT but answers MLSD with "500 MLSD: command not understood" (or
// refuses it by configuration) is listed with LIST from then on. LIST's
// times are made exact with MDTM where the server has it (exactTimes).
func (s *Session) list(dir string, p *Pool) ([]Entry, error) {
	if s.mlsd && !p.q.ref.refused(optMLSD) {
		entries, err := s.listWith(formatMLSD, dir, p)
		if !refused(err) {
			return entries, err
		}
		p.q.ref.learn(optMLSD, wrapErr("list", dir, err).Error())
	}
	if err := s.chdir(dir); err != nil {
		return nil, err
	}
	entries, err := s.listWith(formatLIST, dir, p)
	if err != nil {
		return nil, err
	}
	if err := p.exactTimes(s, entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// listWith runs one listing in format: MLSD dir, or LIST in the current
// directory, which is dir. The library sends MLSD or LIST as it learnt at
// login; a session whose library would send MLSD sends "LIST -a" itself.
func (s *Session) listWith(format listFormat, dir string, p *Pool) ([]Entry, error) {
	parser := newListParser(format, time.Now(), MaxListEntries)
	var err error
	switch {
	case format == formatMLSD:
		arg := dir
		if len(dir) > maxArg {
			// MLSD without an argument lists the current directory.
			if err := s.chdir(dir); err != nil {
				return nil, err
			}
			arg = ""
		}
		s.sink = parser
		_, err = s.c.List(arg)
		s.sink = nil
	case s.mlsd:
		err = s.rawList("LIST -a", parser)
	default:
		s.sink = parser
		_, err = s.c.List("")
		s.sink = nil
	}
	if cerr := parser.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errListingTooLarge) {
		return nil, &Error{Op: "list", Path: dir, Msg: "more than the limit of entries or an endless line", Err: ErrListingTooLarge}
	}
	if err != nil {
		return nil, err
	}
	if n, sample := parser.Rejected(); n > 0 {
		p.cfg.Logger.Warn("listing lines not understood", "dir", dir, "count", n, "first", sample)
	}
	entries := parser.Entries()
	if format == formatMLSD && lacksLinkTargets(entries) {
		if err := s.fillLinkTargets(dir, entries); err != nil {
			p.cfg.Logger.Debug("no symlink targets", "dir", dir, "err", err)
		}
	}
	return entries, nil
}

func lacksLinkTargets(entries []Entry) bool {
	for _, e := range entries {
		if e.Type == TypeSymlink && e.Target == "" {
			return true
		}
	}
	return false
}

// fillLinkTargets asks LIST for what MLSD leaves out: pure-ftpd says
// "type=OS.unix=slink:" and proftpd "type=OS.unix=symlink", neither with
// the target, which LIST shows as "name -> target". It costs one more
// listing, for directories that hold symlinks only.
func (s *Session) fillLinkTargets(dir string, entries []Entry) error {
	if err := s.chdir(dir); err != nil {
		return err
	}
	parser := newListParser(formatLIST, time.Now(), MaxListEntries)
	if err := s.rawList("LIST -a", parser); err != nil {
		return err
	}
	if err := parser.Close(); err != nil {
		return err
	}
	targets := map[string]string{}
	for _, e := range parser.Entries() {
		if e.Type == TypeSymlink {
			targets[e.Name] = e.Target
		}
	}
	for i := range entries {
		if entries[i].Type == TypeSymlink && entries[i].Target == "" {
			entries[i].Target = targets[entries[i].Name]
		}
	}
	return nil
}

// chdir changes the session's directory unless it is there already.
func (s *Session) chdir(dir string) error {
	if s.cwd == dir {
		return nil
	}
	s.cwd = ""
	if len(dir) > maxArg {
		if err := s.changeDirSteps(dir); err != nil {
			return err
		}
	} else if err := s.c.ChangeDir(dir); err != nil {
		return err
	}
	s.cwd = dir
	return nil
}

// CheckDir reports whether dir exists and is a directory the user may
// enter, by changing into it.
func (p *Pool) CheckDir(ctx context.Context, dir string) error {
	dir, err := p.cc.toServer("cwd", dir)
	if err != nil {
		return err
	}
	return p.do(ctx, "cwd", dir, func(s *Session) error { return s.chdir(dir) })
}

// Getwd returns the login directory, which a source without a path mounts.
func (p *Pool) Getwd(ctx context.Context) (string, error) {
	var wd string
	err := p.do(ctx, "pwd", "", func(s *Session) error {
		var err error
		wd, err = s.c.CurrentDir()
		return err
	})
	return p.cc.fromServer(wd), err
}
