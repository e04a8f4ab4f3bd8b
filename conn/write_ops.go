package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store uploads the size bytes of src as the whole of path (STOR from 0,
// never REST: StorFrom leaves bytes past the end on some servers), checks
// the size and sets the attributes asked for. The bytes go to a temporary
// name beside path, renamed over path in the same flight as the commands
// after the upload (see uploadName), so the server's file is the old
// version or the new one, never a mix. A failed attempt is retried on a
// fresh connection from the start of src; what the last failed attempt
// left under the temporary name is removed. Ending ctx ends the upload.
func (p *Pool) Store(ctx context.Context, path string, src io.ReaderAt, size int64, a Attrs) (Applied, error) {
	path, err := p.cc.toServer("stor", path)
	if err != nil {
		return Applied{}, err
	}
	var done Applied
	err = p.do(ctx, "stor", path, func(s *Session) error {
		body := func() io.Reader { return ctxReader{ctx, io.NewSectionReader(src, 0, size)} }
		done, err = p.storeVia(s, path, func() Attrs { return a }, body, func() int64 { return size })
		return err
	})
	if err != nil {
		p.removeTemp(path)
	}
	return done, err
}

// removeTemp removes what a failed upload left under path's temporary
// name, so that a full disk is not kept full by it; a refusal (nothing
// there, or nothing the server lets go) is fine. It is given its own
// time: the caller's may be what ended the upload.
func (p *Pool) removeTemp(path string) {
	tmp := p.uploadName(path)
	if tmp == path {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	_ = p.do1(ctx, "dele", tmp, func(s *Session) error {
		arg, err := s.arg(tmp)
		if err != nil {
			return err
		}
		return s.c.Delete(arg)
	})
}

// ctxReader ends an upload's data when ctx ends: the bytes of a large file
// go out in many reads, and the caller that gave up (a writer killed
// while its file is uploaded) must not wait for the last of them.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// storeVia uploads what body yields to path through its temporary name,
// or in place where the server refuses the temporary name (learned), then
// runs the commands after the upload.
func (p *Pool) storeVia(s *Session, path string, attrs func() Attrs, body func() io.Reader, size func() int64) (Applied, error) {
	// A long path goes relative to its parent after CWD (see arg); the
	// temporary name is beside it.
	target, err := s.arg(path)
	if err != nil {
		return Applied{}, err
	}
	tmp := target
	if t := p.uploadName(path); t != path && !attrs().InPlace {
		if tmp, err = s.arg(t); err != nil {
			return Applied{}, err
		}
	}
	var dg *digesting
	if plan := s.digestPlan(p.q.ref, tmp, target); plan != nil {
		dg = &digesting{plan: plan}
		if err := plan.selectFirst(s); err != nil {
			return Applied{}, err
		}
	}
	err = s.upload("STOR "+tmp, dg.wrap(body()))
	if err != nil && tmp != target && refused(err) {
		// The server may refuse the name itself (a dot file, a long name):
		// try the real one, and if that works, remember it.
		if err2 := s.upload("STOR "+target, dg.wrap(body())); err2 == nil {
			p.q.ref.learn(optTempName, err.Error())
			tmp, err = target, nil
		}
	}
	if err != nil {
		return Applied{}, err
	}
	return p.afterUpload(s, tmp, size(), attrs(), target, dg)
}

// StoreStream uploads what r yields as the whole of path, in one attempt
// (r cannot be read twice), then checks the size and sets the attributes
// attrs returns once r is exhausted (they are known only then). It goes
// through a temporary name as Store does; one left by a failed attempt is
// removed, and at worst overwritten by the next upload of path.
func (p *Pool) StoreStream(ctx context.Context, path string, r io.Reader, attrs func() Attrs) (Applied, error) {
	path, err := p.cc.toServer("stor", path)
	if err != nil {
		return Applied{}, err
	}
	var done Applied
	err = p.do1(ctx, "stor", path, func(s *Session) error {
		cr := &countingReader{r: r}
		used := false
		body := func() io.Reader {
			if used {
				return &countingReader{r: errReader{errors.New("stream already read")}}
			}
			used = true
			return cr
		}
		done, err = p.storeVia(s, path, attrs, body, func() int64 { return cr.n })
		return err
	})
	if err != nil {
		p.removeTemp(path)
	}
	return done, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// Append uploads bytes [off, size) of src to the end of path, which holds
// off bytes on the server (APPE), then checks the size and sets the
// attributes. APPE cannot be repeated blindly: after a failed transfer the
// server's SIZE says how much arrived, and the rest is sent. After a
// complete one (226) whose SIZE disagrees, nothing is sent again: the file
// changed on the server, and the error says so. A server that
// refuses APPE (proftpd by default: "451 /f: Append/Restart not permitted,
// try again") gets ErrNotSupported at once, then and for the rest of the
// mount, and the caller stores the whole file instead.
func (p *Pool) Append(ctx context.Context, path string, src io.ReaderAt, off, size int64, a Attrs) (Applied, error) {
	path, err := p.cc.toServer("appe", path)
	if err != nil {
		return Applied{}, err
	}
	if p.q.ref.refused(optAppe) {
		return Applied{}, &Error{Op: "appe", Path: path, Msg: "the server refuses APPE", Err: ErrNotSupported}
	}
	var done Applied
	r := p.retrier()
	for {
		appended := false
		err = p.do1(ctx, "appe", path, func(s *Session) error {
			arg, err := s.arg(path)
			if err != nil {
				return err
			}
			if err := s.upload("APPE "+arg, ctxReader{ctx, io.NewSectionReader(src, off, size-off)}); err != nil {
				return err
			}
			appended = true
			// Checked by size only: a digest of the whole file would
			// need the bytes before off, which this upload does not send.
			done, err = p.afterUpload(s, arg, size, a, arg, nil)
			return err
		})
		if !appended && refused(err) {
			p.q.ref.learn(optAppe, err.Error())
			return done, asUnsupported("appe", path, err)
		}
		if appended && errors.Is(err, errSizeAfterUpload) {
			// The server took the whole APPE (226) and holds another
			// size than the listing's plus the bytes sent: the file
			// changed on the server (removed, made again, cut by log
			// rotation), or a middlebox cut the data connection
			// cleanly. Resuming from its size would splice the new
			// bytes into another file; the application gets the error.
			return done, &Error{Op: "appe", Path: path, Err: errAppendedElsewhere, Msg: err.Error() + "; the file changed on the server or the transfer was cut"}
		}
		if !r.again(ctx, "appe", path, err) {
			return done, err
		}
		have, serr := p.size(ctx, path)
		switch {
		case serr != nil:
			return done, err
		case have == size:
			return done, nil
		case have < off || have > size:
			return done, fmt.Errorf("appe %s: the file changed on the server (size %d, expected %d to %d): %w", path, have, off, size, err)
		}
		off = have
	}
}

// errAppendedElsewhere: an APPE went through but the file's size says it
// was not appended to the file ftpfs knew. Not transient: sending again
// would add the bytes twice.
var errAppendedElsewhere = errors.New("the appended file is not the one listed")

// Size returns the size of path (SIZE).
func (p *Pool) Size(ctx context.Context, path string) (int64, error) {
	path, err := p.cc.toServer("size", path)
	if err != nil {
		return 0, err
	}
	return p.size(ctx, path)
}

// size is Size for a path already in the server's character set.
func (p *Pool) size(ctx context.Context, path string) (int64, error) {
	var n int64
	err := p.do(ctx, "size", path, func(s *Session) error {
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		n, err = s.c.FileSize(arg)
		return err
	})
	return n, err
}

// Rename renames from to to (RNFR, RNTO).
func (p *Pool) Rename(ctx context.Context, from, to string) error {
	to, err := p.cc.toServer("rename", to)
	if err != nil {
		return err
	}
	from, err = p.cc.toServer("rename", from)
	if err != nil {
		return err
	}
	return p.do(ctx, "rename", from+" -> "+to, func(s *Session) error {
		fromArg, toArg, err := s.renameArgs(from, to)
		s.cwd = "" // some servers change the meaning of a cwd under a renamed tree
		if err != nil {
			return err
		}
		return s.c.Rename(fromArg, toArg)
	})
}

// Delete removes a file (DELE).
func (p *Pool) Delete(ctx context.Context, path string) error {
	path, err := p.cc.toServer("dele", path)
	if err != nil {
		return err
	}
	return p.do(ctx, "dele", path, func(s *Session) error {
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		return s.c.Delete(arg)
	})
}

// MakeDir creates a directory (MKD).
func (p *Pool) MakeDir(ctx context.Context, path string) error {
	path, err := p.cc.toServer("mkd", path)
	if err != nil {
		return err
	}
	return p.do(ctx, "mkd", path, func(s *Session) error {
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		return s.c.MakeDir(arg)
	})
}

// RemoveDir removes an empty directory (RMD).
func (p *Pool) RemoveDir(ctx context.Context, path string) error {
	path, err := p.cc.toServer("rmd", path)
	if err != nil {
		return err
	}
	return p.do(ctx, "rmd", path, func(s *Session) error {
		if s.cwd == path || len(s.cwd) > len(path) && s.cwd[:len(path)+1] == path+"/" {
			s.cwd = "" // vsftpd refuses to remove a session's working directory
			if err := s.c.ChangeDir("/"); err != nil {
				return err
			}
		}
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		return s.c.RemoveDir(arg)
	})
}

// SetTime sets the modification time of path: MFMT where the server has
// it, else vsftpd's "MDTM time path" form. ErrNotSupported when neither
// works, or the server refuses it, which the pool then remembers.
func (p *Pool) SetTime(ctx context.Context, path string, t time.Time) error {
	path, err := p.cc.toServer("mfmt", path)
	if err != nil {
		return err
	}
	if p.q.ref.refused(optSetTime) {
		return &Error{Op: "mfmt", Path: path, Msg: "the server cannot set times", Err: ErrNotSupported}
	}
	err = p.do(ctx, "mfmt", path, func(s *Session) error {
		if !s.c.IsSetTimeSupported() {
			return &Error{Op: "mfmt", Path: path, Msg: "the server cannot set times", Err: ErrNotSupported}
		}
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		return s.c.SetTime(arg, t)
	})
	return p.optionalFailed(optSetTime, "mfmt", path, err)
}

// Chmod sets the permission bits of path with SITE CHMOD. ErrNotSupported
// when the server lacks or refuses it, which the pool then remembers.
func (p *Pool) Chmod(ctx context.Context, path string, mode uint32) error {
	path, err := p.cc.toServer("site chmod", path)
	if err != nil {
		return err
	}
	if p.q.ref.refused(optChmod) {
		return &Error{Op: "site chmod", Path: path, Msg: "the server has no SITE CHMOD", Err: ErrNotSupported}
	}
	err = p.do(ctx, "site chmod", path, func(s *Session) error {
		arg, err := s.arg(path)
		if err != nil {
			return err
		}
		_, _, err = s.raw(2, "SITE CHMOD %04o %s", mode&0o7777, arg)
		return err
	})
	return p.optionalFailed(optChmod, "site chmod", path, err)
}

// optionalFailed learns from the failure of an optional command: a
// refusal (see refusedReply) is remembered for the mount and returned as
// ErrNotSupported, so that callers do it another way; anything else is
// returned as it is.
func (p *Pool) optionalFailed(c optional, op, path string, err error) error {
	if errors.Is(err, ErrNotSupported) && !refused(err) {
		p.q.ref.learn(c, err.Error()) // the library's own verdict: FEAT lacks it
		return err
	}
	if !refused(err) {
		return err
	}
	p.q.ref.learn(c, err.Error())
	return asUnsupported(op, path, err)
}
