package conn

import (
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
}

// Applied says which of the Attrs the server took.
type Applied struct {
	Mode, Time bool
}

// afterUpload checks that the server holds size bytes of path and sets the
// attributes asked for, sending SIZE, SITE CHMOD and MFMT (or vsftpd's
// "MDTM time path") at once and then reading the replies in order: over a
// link with latency that is one round trip instead of three. A 226 only
// says the server saw the data connection end, and a connection cut by a
// middlebox ends cleanly too; SIZE tells. Servers without SIZE are trusted.
func (p *Pool) afterUpload(s *Session, path string, size int64, a Attrs) (Applied, error) {
	type step struct {
		cmd   string
		check func(code int, msg string) error
	}
	var done Applied
	var steps []step
	ref := p.q.ref
	if !ref.refused(optSize) {
		steps = append(steps, step{"SIZE " + path, func(code int, msg string) error {
			switch {
			case code == 213:
				have, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
				if err == nil && have != size {
					return &Error{Op: "stor", Path: path, Err: ErrTransient,
						Msg: fmt.Sprintf("the server has %d bytes of %d after the upload", have, size)}
				}
			case refusedReply(code, msg):
				ref.learn(optSize, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	if a.HasMode && !ref.refused(optChmod) {
		steps = append(steps, step{fmt.Sprintf("SITE CHMOD %04o %s", a.Mode&0o7777, path), func(code int, msg string) error {
			done.Mode = code/100 == 2
			if refusedReply(code, msg) {
				ref.learn(optChmod, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	if verb := s.timeVerb(); a.HasTime && verb != "" && !ref.refused(optSetTime) {
		steps = append(steps, step{verb + " " + a.ModTime.UTC().Format("20060102150405") + " " + path, func(code int, msg string) error {
			done.Time = code/100 == 2
			if refusedReply(code, msg) {
				ref.learn(optSetTime, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	if len(steps) == 0 {
		return done, nil
	}
	if strings.ContainsAny(path, "\r\n") {
		return done, nil // the library refused the transfer already
	}
	var b strings.Builder
	for _, st := range steps {
		b.WriteString(st.cmd + "\r\n")
	}
	x := s.exchange()
	if _, err := s.ctl.Write([]byte(b.String())); err != nil {
		s.broken = true
		return done, err
	}
	var first error
	for _, st := range steps {
		code, msg, err := x.tr.ReadResponse(0) // any code: each step judges its own
		if err != nil {
			s.broken = true // not a reply: the connection is out of step
			return done, err
		}
		if cerr := st.check(code, msg); cerr != nil && first == nil {
			first = cerr
		}
	}
	if err := x.done(); err != nil {
		return done, err
	}
	return done, first
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
