package conn

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Attrs are what to set on a file right after its upload. They travel in
// the same round trip as the size check that follows every upload.
type Attrs struct {
	Mode    uint32 // permission bits, with HasMode
	HasMode bool
	ModTime time.Time // with HasTime
	HasTime bool
	// InPlace makes Store write the file in place, not under a temporary
	// name: for a file its owner may not write (mode without 0200), which
	// a rename over it would replace where a STOR is refused.
	InPlace bool
}

// Applied says which of the Attrs the server took.
type Applied struct {
	Mode, Time bool
}

// errSizeAfterUpload: SIZE after a 226 disagrees with what was sent. For a
// STOR that is a transfer cut short (sent again); for an APPE it may be
// that too, or the file changed on the server since it was listed, and
// the two cannot be told apart (see Append).
var errSizeAfterUpload = fmt.Errorf("%w: the size after the upload differs", ErrTransient)

// afterUpload checks that the server holds size bytes of path and sets the
// attributes asked for, sending SIZE, SITE CHMOD and MFMT (or vsftpd's
// "MDTM time path") at once and then reading the replies in order: over a
// link with latency that is one round trip instead of three. A 226 only
// says the server saw the data connection end, and a connection cut by a
// middlebox ends cleanly too; SIZE tells. Servers without SIZE are trusted.
//
// When the upload went to a temporary name (path differs from target),
// RNFR path and RNTO target end the flight: the attributes are set on the
// temporary file and travel with it. A server that will not rename over
// an existing file (proftpd without AllowOverwrite) gets the target
// removed and the rename repeated, in one more round trip: for that moment
// the target is absent, but never partial.
//
// With dg, the digest of the bytes sent, the server's digest of path
// follows SIZE in the flight (see digesting.steps); a difference fails the
// upload as a short file does. The debug log says which check ran: the
// digest, the size, or "none" (the 226 alone). A failed check does not
// hold back the rename already on the wire: the attempt after it, or the
// caller's next upload, replaces the file; but a big upload checked by
// digest is renamed in a flight of its own once its checks passed (see
// lateRenameSize).
func (p *Pool) afterUpload(s *Session, path string, size int64, a Attrs, target string, dg *digesting) (Applied, error) {
	var done Applied
	var steps []step
	ref := p.q.ref
	var sized, digested bool
	steps = append(steps, p.sizeStep("stor", "upload", path, size, &sized)...)
	if dg != nil && !strings.ContainsAny(path, "\r\n") {
		steps = append(steps, dg.steps(s, ref, "stor", path, digestWait(p.cfg.Timeout, size, p.hashRate()), &digested)...)
	}
	steps = append(steps, p.attrSteps(s, path, a, &done)...)
	var renameErr error
	late := dg != nil && size >= p.lateFrom()
	if target != path && !late {
		steps = append(steps, renameSteps(path, target, &renameErr)...)
	}
	if len(steps) == 0 || strings.ContainsAny(path+target, "\r\n") {
		return done, nil // nothing to send, or the library refused the transfer already
	}
	// The next transfer's data port, asked in the same round trip.
	steps = append(steps, s.aheadStep()...)
	err := p.flight(s, steps)
	var checks []string
	if digested {
		checks = append(checks, dg.plan.String())
	}
	if sized {
		checks = append(checks, "size")
	}
	check := strings.Join(checks, ", ")
	if check == "" {
		check = "none"
	}
	p.cfg.Logger.Debug("upload checked", "path", target, "check", check, "bytes", size, "err", err)
	if err != nil {
		return done, err
	}
	if target != path && late {
		if err := p.flight(s, renameSteps(path, target, &renameErr)); err != nil {
			return done, err
		}
	}
	if err := p.renameOverAgain(s, path, target, &renameErr); err != nil {
		return done, err
	}
	return done, renameErr
}

// renameOverAgain follows a rename of from over to that the server
// refused (*renameErr): a server that will not rename over an existing
// file (proftpd without AllowOverwrite) gets to removed and the rename
// repeated, in one more round trip; its result replaces *renameErr. For
// that moment to is absent, but never partial. The error is a failure of
// the connection.
func (p *Pool) renameOverAgain(s *Session, from, to string, renameErr *error) error {
	if *renameErr == nil || !refused(*renameErr) {
		return nil
	}
	*renameErr = nil
	again := append([]step{{cmd: "DELE " + to, check: func(int, string) error { return nil }}}, renameSteps(from, to, renameErr)...)
	return p.flight(s, again)
}

// attrSteps set the mode (SITE CHMOD) and time (MFMT, or vsftpd's MDTM
// form) of path, recording in done what the server took; a command the
// server lacks is learned and not sent again.
func (p *Pool) attrSteps(s *Session, path string, a Attrs, done *Applied) []step {
	var steps []step
	ref := p.q.ref
	if a.HasMode && !ref.refused(optChmod) {
		steps = append(steps, step{cmd: fmt.Sprintf("SITE CHMOD %04o %s", a.Mode&0o7777, path), check: func(code int, msg string) error {
			done.Mode = code/100 == 2
			if refusedReply(code, msg) {
				ref.learn(optChmod, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	if verb := s.timeVerb(); a.HasTime && verb != "" && !ref.refused(optSetTime) {
		steps = append(steps, step{cmd: verb + " " + a.ModTime.UTC().Format("20060102150405") + " " + path, check: func(code int, msg string) error {
			done.Time = code/100 == 2
			if refusedReply(code, msg) {
				ref.learn(optSetTime, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	return steps
}

// step is one command of a pipelined flight, with the check of its reply.
type step struct {
	cmd   string
	check func(code int, msg string) error
	// wait, when longer than Config.Timeout, is how long its reply may
	// take (a digest of a big file, see digestWait).
	wait time.Duration
	// optional marks a last step whose failure is not the flight's: the
	// EPSV of a data connection opened ahead (see aheadStep). A reply
	// that cannot be read, or more than one reply, leaves the session
	// broken (not reused), and the other steps' results stand.
	optional bool
}

// sizeStep checks that path holds size bytes (SIZE) after what (an
// upload, a copy), unless the server refused SIZE before; a refusal now
// is learnt, and the transfer trusted on its 226 (or 250). A difference
// is errSizeAfterUpload; sized, if not nil, records that SIZE answered.
func (p *Pool) sizeStep(op, what, path string, size int64, sized *bool) []step {
	ref := p.q.ref
	if ref.refused(optSize) {
		return nil
	}
	return []step{{cmd: "SIZE " + path, check: func(code int, msg string) error {
		switch {
		case code == 213:
			if sized != nil {
				*sized = true
			}
			have, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
			if err == nil && have != size {
				return &Error{Op: op, Path: path, Err: errSizeAfterUpload,
					Msg: fmt.Sprintf("the server has %d bytes of %d after the %s", have, size, what)}
			}
		case refusedReply(code, msg):
			ref.learn(optSize, fmt.Sprintf("%d %s", code, oneLine(msg)))
		}
		return nil
	}}}
}

// renameSteps renames from to to; the first failure lands in *err.
func renameSteps(from, to string, err *error) []step {
	fail := func(op, p string, code int, msg string) {
		if *err == nil {
			*err = &Error{Op: op, Path: p, Code: code, Msg: oneLine(msg)}
		}
	}
	return []step{
		{cmd: "RNFR " + from, check: func(code int, msg string) error {
			if code != 350 {
				fail("rnfr", from, code, msg)
			}
			return nil
		}},
		{cmd: "RNTO " + to, check: func(code int, msg string) error {
			if code/100 != 2 {
				fail("rnto", to, code, msg)
			}
			return nil
		}},
	}
}

// flight writes every step's command at once, then reads the replies in
// order, each judged by its step: over a link with latency, one round
// trip for them all. It returns the first step's error, or the failure of
// the connection, after which the session is not reused.
func (p *Pool) flight(s *Session, steps []step) error {
	var b strings.Builder
	for _, st := range steps {
		b.WriteString(st.cmd + "\r\n")
	}
	x := s.exchange()
	if _, err := s.ctl.Write([]byte(b.String())); err != nil {
		s.broken = true
		return err
	}
	var first error
	optional := false
	for _, st := range steps {
		optional = st.optional
		s.ctl.replyWait = st.wait
		code, msg, err := x.tr.ReadResponse(0) // any code: each step judges its own
		s.ctl.replyWait = 0
		if err != nil {
			s.broken = true // not a reply: the connection is out of step
			if optional {
				return first
			}
			return err
		}
		if cerr := st.check(code, msg); cerr != nil && first == nil {
			first = cerr
		}
	}
	if err := x.done(); err != nil {
		// vsftpd answers an EPSV it cannot bind with "500 OOPS: ..." and
		// more, and ends the session: after an optional last step the
		// replies before it were the server's answers all the same.
		if optional {
			return first
		}
		return err
	}
	return first
}

// timeVerb is the command that sets a modification time on this server:
// MFMT, or MDTM with a time and a path on vsftpd, which lists MDTM only.
func (s *Session) timeVerb() string {
	if _, ok := s.feat["MFMT"]; ok {
		return "MFMT"
	}
	if _, ok := s.feat["MDTM"]; ok {
		return "MDTM"
	}
	return ""
}

// SetAttrs sets the mode and the modification time of path in one flight
// (SITE CHMOD, then MFMT or vsftpd's MDTM form, written together): one
// round trip where Chmod and SetTime take two. What the server lacks is
// learned as they learn it; Applied says what it took. The error is a
// failure of the connection only: a refusal of either is an answer, and
// the caller keeps showing what the server did not take.
func (p *Pool) SetAttrs(ctx context.Context, path string, a Attrs) (Applied, error) {
	path, err := p.cc.toServer("site chmod", path)
	if err != nil {
		return Applied{}, err
	}
	var done Applied
	err = p.do(ctx, "setattr", path, func(s *Session) error {
		done = Applied{}
		steps := p.attrSteps(s, path, a, &done)
		if len(steps) == 0 || strings.ContainsAny(path, "\r\n") {
			return nil
		}
		return p.flight(s, steps)
	})
	return done, err
}
