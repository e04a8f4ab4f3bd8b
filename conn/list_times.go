package conn

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// exactTimes replaces the times of the files of a LIST listing with what
// MDTM says (RFC 3659 section 3: UTC, to the second or finer). LIST gives
// minutes, and only a day for files older than six months (vsftpd, which
// has no MLSD), so a tool that compares times with a local copy (rsync,
// make) would see every file changed; MDTM, which vsftpd lists in FEAT,
// gives seconds. The session is in the listed directory, so each file is
// named relative to it, and the MDTM commands go in one flight (one per
// maxFlight bytes of commands): one round trip for the directory, not one
// per file. Directories and symlinks keep their listed times (vsftpd
// answers MDTM on a directory with 550, and follows a symlink).
//
// A file whose MDTM fails (550: removed since the listing, or unreadable)
// keeps its listed time; a server that refuses MDTM (500, 502) is learned
// once and not asked again, and Config.DisableExactTimes asks none. The
// error is a failure of the connection only.
func (p *Pool) exactTimes(s *Session, entries []Entry) error {
	ref := p.q.ref
	if _, ok := s.feat["MDTM"]; !ok || ref.refused(optMDTM) {
		return nil
	}
	var steps []step
	for i := range entries {
		e := &entries[i]
		if e.Type != TypeFile || strings.ContainsAny(e.Name, "\r\n") {
			continue
		}
		steps = append(steps, step{cmd: "MDTM " + mdtmArg(e.Name), check: func(code int, msg string) error {
			switch {
			case code == 213:
				if t, ok := parseMDTM(msg); ok {
					e.ModTime, e.HasTime, e.TimeGrain = t, true, 0
				}
			case refusedReply(code, msg):
				ref.learn(optMDTM, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}})
	}
	for len(steps) > 0 && !ref.refused(optMDTM) {
		n := flightSize(steps)
		if err := p.flight(s, steps[:n]); err != nil {
			return err
		}
		steps = steps[n:]
	}
	return nil
}

// mdtmArg is the argument of MDTM for a file of the current directory.
// vsftpd takes "MDTM 20240315101112 name" (also with 8 digits, or a
// fraction) as setting name's time when no file is called the whole
// argument (postlogin.c, handle_mdtm): a file "20240315101112 name"
// removed since the listing would have another file's time changed. A
// name that starts with a digit is therefore sent as "./name", which
// cannot be read as a time.
func mdtmArg(name string) string {
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		return "./" + name
	}
	return name
}

// maxFlight bounds the commands of one flight, in bytes. A flight is
// written whole before its replies are read, so it must fit in the
// buffers between the two sides even when the server, its replies unread,
// has stopped reading: Linux starts a connection with 16 KiB to send and
// 128 KiB to receive (tcp_wmem, tcp_rmem). A directory of 1,000 files
// takes about 20 KB, one flight; a larger one takes a round trip per 64 KiB.
const maxFlight = 64 << 10

// flightSize returns how many of steps, at least one, fit in maxFlight.
func flightSize(steps []step) int {
	size := 0
	for i, st := range steps {
		size += len(st.cmd) + 2
		if size > maxFlight && i > 0 {
			return i
		}
	}
	return len(steps)
}

// parseMDTM parses the argument of an MDTM reply, RFC 3659 section 2.3's
// time-val: YYYYMMDDHHMMSS in UTC, optionally followed by a fraction of a
// second (".123"). Anything else, such as "191240315101112" (2024 as
// "19" and 124) from servers with the Y2K bug, is not a time.
func parseMDTM(msg string) (time.Time, bool) {
	b := bytes.TrimSpace([]byte(msg))
	whole, frac, hasFrac := bytes.Cut(b, []byte("."))
	if len(whole) != 14 || !allDigits(whole) || hasFrac && (len(frac) == 0 || len(frac) > 9 || !allDigits(frac)) {
		return time.Time{}, false
	}
	y, mo, d := atoi(whole[0:4]), atoi(whole[4:6]), atoi(whole[6:8])
	h, mi, sec := atoi(whole[8:10]), atoi(whole[10:12]), atoi(whole[12:14])
	if !validDate(y, mo, d) || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, false
	}
	ns := 0
	if hasFrac {
		ns = atoi(frac)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	// A leap second (60) becomes the next minute's first, as time.Date
	// normalizes it.
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
}
