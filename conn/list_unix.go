package conn

import (
	"bytes"
	"io/fs"
	"time"
)

// parseLIST parses one line of a LIST reply in whichever dialect it is in:
// DOS style (IIS) lines start with a digit, Unix ls -l lines with a file
// type letter. Both give times in the server's choice of zone with no zone
// named; they are taken as UTC, which is what vsftpd sends by default
// (use_localtime=NO) and what pure-ftpd, proftpd and pyftpdlib send when the
// server runs in UTC, as containers usually do.
func parseLIST(line []byte, now time.Time) (parsedLine, verdict) {
	switch {
	case isTotalLine(line):
		return parsedLine{}, verdictSkip
	case line[0] >= '0' && line[0] <= '9':
		return parseDOS(line)
	}
	return parseUnix(line, now)
}

// isTotalLine matches ls's "total 123" header (GNU ls, busybox, proftpd,
// pure-ftpd send it; vsftpd and pyftpdlib do not).
func isTotalLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("total "))
	return ok && allDigits(bytes.TrimRight(rest, " "))
}

// span is a field of a line, as byte offsets: line[s:e].
type span struct{ s, e int }

// splitFields fills f with the first len(f) space-separated fields of line
// and returns how many it found. Names are cut from the line by offset,
// never rebuilt from fields, so runs of spaces inside them survive.
func splitFields(line []byte, f []span) int {
	n, i := 0, 0
	for n < len(f) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		s := i
		for i < len(line) && line[i] != ' ' {
			i++
		}
		f[n] = span{s, i}
		n++
	}
	return n
}

func (s span) of(line []byte) []byte { return line[s.s:s.e] }

// unixFields is how many leading fields of an ls -l line may come before the
// name: mode, links, owner, group, "major," minor, month, day, time, and one
// spare for an owner or group we do not foresee.
const unixFields = 10

// parseUnix parses an ls -l style line, as vsftpd, pure-ftpd, proftpd,
// pyftpdlib, busybox and GNU ls send it:
//
//	drwxr-xr-x    2 1000     1000         4096 Nov 25 19:43 dir name
//	-rw-r--r--   1 owner 1234 Jan  3  2024 file          (no group column)
//	crw-rw-rw-   1 root root 1,   3 Nov 25 19:43 null    (device numbers)
//	lrwxrwxrwx   1 u g 7 Nov 25 19:43 link -> target
//
// The owner and group columns vary (missing, numeric, named), so the date is
// found as the first month/day/time-or-year triple preceded by a size, and
// the name is everything after the one space that follows it.
func parseUnix(line []byte, now time.Time) (parsedLine, verdict) {
	var f [unixFields]span
	n := splitFields(line, f[:])
	var r parsedLine
	if n == 0 {
		return r, verdictReject
	}
	typ, perm, ok := parseUnixMode(f[0].of(line))
	if !ok {
		return r, verdictReject
	}
	r.entry.Type, r.entry.Perm, r.entry.HasPerm = typ, perm, true
	for k := 3; k+2 < n; k++ {
		t, ok := parseUnixDate(f[k].of(line), f[k+1].of(line), f[k+2].of(line), now)
		if !ok {
			continue
		}
		size, ok := unixSize(line, f[:k], r.entry.Type)
		if !ok {
			continue
		}
		r.entry.Size, r.entry.ModTime, r.entry.HasTime = size, t, true
		r.entry.TimeGrain = 24 * time.Hour
		if bytes.IndexByte(f[k+2].of(line), ':') >= 0 {
			r.entry.TimeGrain = time.Minute
		}
		if end := f[k+2].e; end < len(line) {
			r.name = line[end+1:]
		}
		if r.entry.Type == TypeSymlink {
			r.name, r.target = splitLink(r.name)
		}
		return r, verdictEntry
	}
	return r, verdictReject
}

// splitLink splits "name -> target" at the first " -> ". Only symlink lines
// are split: a regular file may well be called "a -> b".
func splitLink(s []byte) (name, target []byte) {
	if i := bytes.Index(s, []byte(" -> ")); i >= 0 {
		return s[:i], s[i+4:]
	}
	return s, nil
}

// parseUnixMode parses a mode column such as "drwxr-sr-t+". A trailing '+'
// (POSIX ACL, GNU ls), '.' (SELinux context, GNU ls) or '@' (extended
// attributes, macOS ls) is ignored.
func parseUnixMode(m []byte) (EntryType, fs.FileMode, bool) {
	if len(m) == 11 && (m[10] == '+' || m[10] == '.' || m[10] == '@') {
		m = m[:10]
	}
	if len(m) != 10 {
		return 0, 0, false
	}
	var typ EntryType
	switch m[0] {
	case '-':
		typ = TypeFile
	case 'd':
		typ = TypeDir
	case 'l':
		typ = TypeSymlink
	case 'b', 'c', 'p', 's', 'D', 'n', 'C', 'M', 'P', '?':
		// Devices, FIFOs, sockets, and what GNU ls shows for Solaris doors,
		// network special files, high-performance, migrated and port files.
		typ = TypeOther
	default:
		return 0, 0, false
	}
	perm, ok := parsePermBits(m[1:])
	return typ, perm, ok
}

// parsePermBits parses "rwxr-xr-x" with s/S in the user and group execute
// positions (setuid, setgid; lower case when execute is also set) and t/T in
// the other execute position (sticky).
func parsePermBits(m []byte) (fs.FileMode, bool) {
	const letters = "rwxrwxrwx"
	var perm fs.FileMode
	for i, c := range m {
		bit := fs.FileMode(1) << (8 - i)
		special, lower, upper := permSpecial(i)
		switch {
		case c == letters[i]:
			perm |= bit
		case c == '-':
		case special != 0 && c == lower:
			perm |= bit | special
		case special != 0 && c == upper:
			perm |= special
		default:
			return 0, false
		}
	}
	return perm, true
}

// permSpecial says which special bit an execute position of ls's mode string
// can carry, and the letters that show it.
func permSpecial(i int) (fs.FileMode, byte, byte) {
	switch i {
	case 2:
		return fs.ModeSetuid, 's', 'S'
	case 5:
		return fs.ModeSetgid, 's', 'S'
	case 8:
		return fs.ModeSticky, 't', 'T'
	}
	return 0, 0, 0
}

// unixSize reads the size column, the last of pre (the fields before the
// date). Device files (TypeOther) show "major, minor" or "major,minor"
// instead (GNU ls, busybox); their size is 0.
func unixSize(line []byte, pre []span, typ EntryType) (int64, bool) {
	last := pre[len(pre)-1].of(line)
	if typ == TypeOther {
		if major, minor, ok := bytes.Cut(last, []byte(",")); ok {
			return 0, allDigits(major) && allDigits(minor)
		}
		if prev := pre[len(pre)-2].of(line); prev[len(prev)-1] == ',' {
			return 0, allDigits(prev[:len(prev)-1]) && allDigits(last)
		}
	}
	return parseDecimal(last)
}

var monthNames = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// parseMonth parses an English three-letter month name, in any case.
func parseMonth(b []byte) (time.Month, bool) {
	if len(b) != 3 {
		return 0, false
	}
	for i, name := range monthNames {
		if eqFold(b, name) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// parseUnixDate parses ls's "Nov 25 19:43" (recent: no year) or
// "Jan  3  2024" (older: no time). Day "05" is pyftpdlib's zero padding.
func parseUnixDate(mon, day, clock []byte, now time.Time) (time.Time, bool) {
	m, ok := parseMonth(mon)
	if !ok || len(day) > 2 || !allDigits(day) {
		return time.Time{}, false
	}
	d := atoi(day)
	if len(clock) == 4 && allDigits(clock) {
		y := atoi(clock)
		if !validDate(y, int(m), d) {
			return time.Time{}, false
		}
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
	}
	h, mi, ok := parseClock(clock)
	if !ok || !validDate(2000, int(m), d) { // 2000 is a leap year: Feb 29 passes
		return time.Time{}, false
	}
	return guessYear(now, m, d, h, mi), true
}

// guessYear places a date that ls shows without a year: ls shows the time
// instead of the year for the last six months, so the date is the latest one
// that is not more than futureSlack after now. Near New Year that may be
// next year (a server ahead of us has already passed midnight); Feb 29 goes
// back to the last leap year.
func guessYear(now time.Time, m time.Month, d, h, mi int) time.Time {
	limit := now.Add(futureSlack)
	for y := now.Year() + 1; y >= now.Year()-8; y-- {
		if !validDate(y, int(m), d) {
			continue
		}
		if t := time.Date(y, m, d, h, mi, 0, 0, time.UTC); !t.After(limit) {
			return t
		}
	}
	// Only Feb 29 with no leap year in reach (around 2100) gets here.
	return time.Date(now.Year()-1, m, d, h, mi, 0, 0, time.UTC)
}

// parseClock parses "19:43" or "9:43".
func parseClock(b []byte) (h, mi int, ok bool) {
	hs, ms, found := bytes.Cut(b, []byte(":"))
	if !found || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 || !allDigits(hs) || !allDigits(ms) {
		return 0, 0, false
	}
	h, mi = atoi(hs), atoi(ms)
	return h, mi, h <= 23 && mi <= 59
}
