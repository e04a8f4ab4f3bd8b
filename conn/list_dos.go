package conn

import (
	"bytes"
	"time"
)

// parseDOS parses the listing IIS sends in its default "MS-DOS" style:
//
//	11-25-26  07:43PM       <DIR>          dir name
//	11-25-26  07:43PM                 1234 file name
//
// with two- or four-digit years and 12- or 24-hour times. IIS right-aligns
// sizes and puts one space before the name; after <DIR> it pads with spaces,
// so a directory's name starts after the whole run of them (a directory name
// that starts with a space cannot be told apart from the padding).
func parseDOS(line []byte) (parsedLine, verdict) {
	var f [3]span
	var r parsedLine
	if splitFields(line, f[:]) < 3 {
		return r, verdictReject
	}
	t, ok := parseDOSTime(f[0].of(line), f[1].of(line))
	if !ok {
		return r, verdictReject
	}
	r.entry.ModTime, r.entry.HasTime, r.entry.TimeGrain = t, true, time.Minute
	rest := line[f[2].e:]
	if col := f[2].of(line); string(col) == "<DIR>" {
		r.entry.Type = TypeDir
		r.name = bytes.TrimLeft(rest, " ")
		return r, verdictEntry
	}
	if r.entry.Size, ok = parseDecimal(f[2].of(line)); !ok {
		return r, verdictReject
	}
	if len(rest) > 0 {
		r.name = rest[1:] // rest starts with the one separating space
	}
	return r, verdictEntry
}

// parseDOSTime parses IIS's "11-25-26" or "11-25-2026" and "07:43PM" or
// "19:43". Two-digit years follow POSIX strptime: 69-99 are 19xx, 00-68 20xx.
func parseDOSTime(date, clock []byte) (time.Time, bool) {
	if (len(date) != 8 && len(date) != 10) || date[2] != '-' || date[5] != '-' ||
		!allDigits(date[:2]) || !allDigits(date[3:5]) || !allDigits(date[6:]) {
		return time.Time{}, false
	}
	mo, d, y := atoi(date[:2]), atoi(date[3:5]), atoi(date[6:])
	if len(date) == 8 {
		y += 2000
		if y >= 2069 {
			y -= 100
		}
	}
	h, mi, ok := parseDOSClock(clock)
	if !ok || !validDate(y, mo, d) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC), true
}

// parseDOSClock parses "07:43PM" (12-hour, the IIS default) or "19:43".
func parseDOSClock(b []byte) (h, mi int, ok bool) {
	n := len(b)
	if n < 2 || (b[n-1] != 'M' && b[n-1] != 'm') {
		return parseClock(b)
	}
	pm := b[n-2] == 'P' || b[n-2] == 'p'
	if !pm && b[n-2] != 'A' && b[n-2] != 'a' {
		return 0, 0, false
	}
	h, mi, ok = parseClock(b[:n-2])
	if !ok || h < 1 || h > 12 {
		return 0, 0, false
	}
	h %= 12 // 12:xxAM is just after midnight, 12:xxPM just after noon
	if pm {
		h += 12
	}
	return h, mi, true
}
