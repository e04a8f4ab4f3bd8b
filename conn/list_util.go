package conn

import (
	"bytes"
	"io/fs"
	"time"
)

// validDate reports whether y-mo-d is a day of the calendar.
func validDate(y, mo, d int) bool {
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return false
	}
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() == d
}

// eqFold compares ASCII case-insensitively. The length check comes first:
// it is cheap, and it keeps Unicode folding ("ſize", the Kelvin sign) from
// matching fact and month names.
func eqFold(b []byte, s string) bool {
	return len(b) == len(s) && bytes.EqualFold(b, []byte(s))
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// atoi converts a short run of digits already checked by allDigits.
func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// parseDecimal parses a non-negative decimal int64, rejecting overflow.
func parseDecimal(b []byte) (int64, bool) {
	if !allDigits(b) {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseOctal parses a unix.mode value, "0755" or "755", keeping the
// permission, setuid, setgid and sticky bits (07777).
func parseOctal(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 11 {
		return 0, false
	}
	var m uint32
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, false
		}
		m = m<<3 | uint32(c-'0')
	}
	return m & 07777, true
}

// unixPerm converts Unix mode bits to the fs.FileMode bits Entry.Perm holds.
func unixPerm(m uint32) fs.FileMode {
	perm := fs.FileMode(m & 0777)
	if m&04000 != 0 {
		perm |= fs.ModeSetuid
	}
	if m&02000 != 0 {
		perm |= fs.ModeSetgid
	}
	if m&01000 != 0 {
		perm |= fs.ModeSticky
	}
	return perm
}
