package conn

import (
	"context"
	"strings"
)

// Copy makes the server copy the file from to to by itself, with proftpd's
// mod_copy (SITE CPFR from, answered 350, then SITE CPTO to, answered
// 250; FEAT lists "SITE COPY"): no byte crosses the network. Then, in a
// second flight, SIZE checks that to holds size bytes and the attributes
// a are set (SITE CHMOD, MFMT), as after an upload. The copy is written
// under to's temporary upload name (see uploadName) and renamed over to in
// a third round trip once its size is right, so that to is the old file or
// the whole copy; what a failed copy left there is removed. With
// a.InPlace, or where the server refused temporary names, to is written in
// place.
//
// A server that refuses SITE CPFR or SITE CPTO (500 or 502: every server
// but proftpd with mod_copy) gets ErrNotSupported at once, then and for
// the rest of the mount, without a command sent. Other failures are
// returned as they are: a 550 for a missing source, or ErrTransient when
// to does not hold size bytes after the copy (the source changed on the
// server), in which case the copy is not repeated.
func (p *Pool) Copy(ctx context.Context, from, to string, size int64, a Attrs) (Applied, error) {
	if p.q.ref.refused(optCopy) {
		return Applied{}, &Error{Op: "site cpfr", Path: from, Msg: "the server has no SITE CPFR", Err: ErrNotSupported}
	}
	from, err := p.cc.toServer("site cpfr", from)
	if err != nil {
		return Applied{}, err
	}
	to, err = p.cc.toServer("site cpto", to)
	if err != nil {
		return Applied{}, err
	}
	var done Applied
	copyRefused := false // SITE CPFR or CPTO itself, not what follows the copy
	err = p.do1(ctx, "site cpto", from+" -> "+to, func(s *Session) error {
		fromArg, toArg, err := s.renameArgs(from, to)
		if err != nil {
			return err
		}
		if strings.ContainsAny(fromArg+toArg, "\r\n") {
			return &Error{Op: "site cpfr", Path: from, Msg: "a name with a line break", Err: ErrNotSupported}
		}
		// The copy goes to the temporary name of an upload, renamed over
		// to once its size is checked: the server's to is the old file or
		// the whole copy, never part of it (CPTO writes as it reads).
		tmp := toArg
		if t := p.uploadName(to); t != to && !a.InPlace {
			if tmp, err = s.arg(t); err != nil {
				return err
			}
		}
		if strings.ContainsAny(tmp, "\r\n") {
			return &Error{Op: "site cpto", Path: to, Msg: "a name with a line break", Err: ErrNotSupported}
		}
		dropTmp := func() {
			if tmp != toArg {
				_ = p.flight(s, []step{{cmd: "DELE " + tmp, check: func(int, string) error { return nil }}})
			}
		}
		if err := p.flight(s, copySteps(fromArg, tmp)); err != nil {
			copyRefused = refused(err)
			if !copyRefused {
				dropTmp() // what a failed copy left
			}
			return err
		}
		done = Applied{}
		steps := append(p.sizeStep("site cpto", "copy", tmp, size, nil), p.attrSteps(s, tmp, a, &done)...)
		if len(steps) > 0 {
			if err := p.flight(s, steps); err != nil {
				dropTmp()
				return err
			}
		}
		if tmp == toArg {
			return nil
		}
		var renameErr error
		if err := p.flight(s, renameSteps(tmp, toArg, &renameErr)); err != nil {
			return err
		}
		if err := p.renameOverAgain(s, tmp, toArg, &renameErr); err != nil {
			return err
		}
		if renameErr != nil {
			dropTmp()
		}
		return renameErr
	})
	if copyRefused {
		p.q.ref.learn(optCopy, err.Error())
		return done, asUnsupported("site cpfr", from, err)
	}
	return done, err
}

// copySteps are SITE CPFR and SITE CPTO, written together: a CPFR that
// fails makes proftpd answer the CPTO with "503 Bad sequence of
// commands", which copies nothing, so nothing waits for the first reply.
// The first failure is the flight's error.
func copySteps(from, to string) []step {
	return []step{
		{cmd: "SITE CPFR " + from, check: func(code int, msg string) error {
			if code != 350 {
				return &Error{Op: "site cpfr", Path: from, Code: code, Msg: oneLine(msg)}
			}
			return nil
		}},
		{cmd: "SITE CPTO " + to, check: func(code int, msg string) error {
			if code/100 != 2 {
				return &Error{Op: "site cpto", Path: to, Code: code, Msg: oneLine(msg)}
			}
			return nil
		}},
	}
}
