package conn

import (
	"bytes"
	"time"
)

// parseMLSD parses an RFC 3659 entry: "fact=value;...;fact=value; name".
// The name starts after the first "; " and runs verbatim to the end of the
// line. RFC 3659 allows no space inside facts, so for a conforming server the
// first "; " is the first space; searching for "; " rather than ' ' also
// copes with proftpd, which puts symlink targets, spaces and all, in a fact
// ("type=OS.unix=slink:/a b;").
func parseMLSD(line []byte) (parsedLine, verdict) {
	i := bytes.Index(line, []byte("; "))
	if i < 0 {
		return parsedLine{}, verdictReject
	}
	var f mlsdFacts
	if !f.parse(line[:i]) {
		return parsedLine{}, verdictReject
	}
	r := parsedLine{name: line[i+2:]}
	return r, f.apply(&r)
}

// mlsdFacts holds the raw values of the facts the parser uses.
type mlsdFacts struct {
	typ, size, modify, mode, unique []byte
	has                             uint8
}

const (
	hasType uint8 = 1 << iota
	hasSize
	hasModify
	hasMode
	hasUnique
)

// parse splits facts (the final ';' removed) and keeps the values of the
// facts we use. Fact names are case-insensitive (pure-ftpd and proftpd send
// "UNIX.mode", pyftpdlib "unix.mode"); unknown facts are ignored, but every
// fact must have the form name=value.
func (f *mlsdFacts) parse(facts []byte) bool {
	for {
		fact, rest, more := bytes.Cut(facts, []byte(";"))
		name, value, ok := bytes.Cut(fact, []byte("="))
		if !ok || len(name) == 0 {
			return false
		}
		f.set(name, value)
		if !more {
			return true
		}
		facts = rest
	}
}

func (f *mlsdFacts) set(name, value []byte) {
	switch {
	case eqFold(name, "type"):
		f.typ, f.has = value, f.has|hasType
	case eqFold(name, "size"):
		f.size, f.has = value, f.has|hasSize
	case eqFold(name, "modify"):
		f.modify, f.has = value, f.has|hasModify
	case eqFold(name, "unix.mode"):
		f.mode, f.has = value, f.has|hasMode
	case eqFold(name, "unique"):
		f.unique, f.has = value, f.has|hasUnique
	}
}

// apply fills r from the facts. The type fact is required; a malformed value
// of a fact we use rejects the line rather than leaving a guess in the entry.
// "sizd" (and any size) of a directory is ignored: it is not a file length.
func (f *mlsdFacts) apply(r *parsedLine) verdict {
	if f.has&hasType == 0 {
		return verdictReject
	}
	typ, target, v := mlsdType(f.typ)
	if v != verdictEntry {
		return v
	}
	e := &r.entry
	e.Type, r.target = typ, target
	ok := true
	if f.has&hasSize != 0 && typ != TypeDir {
		e.Size, ok = parseDecimal(f.size)
	}
	if f.has&hasModify != 0 && ok {
		e.ModTime, ok = parseMLSDTime(f.modify)
		e.HasTime = ok
	}
	if f.has&hasMode != 0 && ok {
		var m uint32
		m, ok = parseOctal(f.mode)
		e.Perm, e.HasPerm = unixPerm(m), ok
	}
	if !ok {
		return verdictReject
	}
	if f.has&hasUnique != 0 {
		e.Unique = string(f.unique)
	}
	return verdictEntry
}

// mlsdType maps a type fact value (case-insensitive, RFC 3659 7.5.1) to an
// entry type and, for proftpd's "OS.unix=slink:TARGET", the link target.
// cdir and pdir describe the listed directory and its parent: skipped.
func mlsdType(v []byte) (EntryType, []byte, verdict) {
	switch {
	case eqFold(v, "file"):
		return TypeFile, nil, verdictEntry
	case eqFold(v, "dir"):
		return TypeDir, nil, verdictEntry
	case eqFold(v, "cdir"), eqFold(v, "pdir"):
		return 0, nil, verdictSkip
	case len(v) == 0:
		return 0, nil, verdictReject
	}
	for _, prefix := range [...]string{"OS.unix=slink", "OS.unix=symlink"} {
		if len(v) < len(prefix) || !eqFold(v[:len(prefix)], prefix) {
			continue
		}
		switch rest := v[len(prefix):]; {
		case len(rest) == 0:
			return TypeSymlink, nil, verdictEntry
		case rest[0] == ':':
			return TypeSymlink, rest[1:], verdictEntry
		}
	}
	// OS.unix=chardev, OS.unix=socket and the like, or a type no RFC names.
	return TypeOther, nil, verdictEntry
}

// parseMLSDTime parses RFC 3659's time-val, YYYYMMDDHHMMSS[.sss], in UTC.
func parseMLSDTime(v []byte) (time.Time, bool) {
	if len(v) < 14 || !allDigits(v[:14]) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := v[14:]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) == 1 || !allDigits(frac[1:]) {
			return time.Time{}, false
		}
		nsec = fracNanos(frac[1:])
	}
	y, mo, d := atoi(v[0:4]), atoi(v[4:6]), atoi(v[6:8])
	h, mi, s := atoi(v[8:10]), atoi(v[10:12]), atoi(v[12:14])
	// Seconds may be 60 for a leap second; time.Date carries it over.
	if !validDate(y, mo, d) || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, nsec, time.UTC), true
}

// fracNanos turns the digits after a decimal point into nanoseconds,
// ignoring digits past the ninth.
func fracNanos(digits []byte) int {
	ns := 0
	for i := range 9 {
		ns *= 10
		if i < len(digits) {
			ns += int(digits[i] - '0')
		}
	}
	return ns
}
