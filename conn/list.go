package conn

import (
	"bytes"
	"fmt"
	"time"
)

// listFormat says which command produced the listing.
type listFormat uint8

const (
	// formatMLSD is RFC 3659's machine listing: "fact=value;...; name".
	formatMLSD listFormat = iota
	// formatLIST is the human listing, in one of the dialects parseLIST knows.
	formatLIST
)

// Limits that keep a broken or hostile server from growing the process
// without bound or streaming forever.
const (
	// maxListLine bounds one listing line, terminator excluded. No real name
	// comes close (NAME_MAX is 255 bytes on most systems).
	maxListLine = 64 << 10
	// listSlack is how many lines beyond maxEntries may yield nothing (blank
	// lines, "total", ".", "..", duplicates, rejects) before the listing is
	// given up: an endless stream of junk or duplicates would otherwise never
	// end, since it keeps the data connection busy and beats the timeout.
	listSlack = 1024
	// maxRejectSample bounds the sample line Rejected returns for a log.
	maxRejectSample = 256
	// futureSlack is how far in the future a LIST date without a year may lie
	// before it is taken to belong to an earlier year. It covers server
	// clocks in time zones ahead of UTC and small clock skew.
	futureSlack = 24 * time.Hour
)

// errListingTooLarge is what listParser.Write returns when a limit is passed.
// It wraps ErrListingTooLarge, so callers may test for either.
var errListingTooLarge = fmt.Errorf("conn: %w", ErrListingTooLarge)

// listParser turns the raw bytes of a directory listing into entries as they
// arrive on the data connection. It parses the bytes itself rather than
// letting jlaffaye/ftp do it because the library drops lines it cannot read;
// here every line either becomes an entry, is one of the few known kinds of
// noise (blank, "total N", ".", "..", cdir/pdir, duplicates), or is counted
// as rejected so that the caller can log it.
//
// It is not safe for concurrent use.
type listParser struct {
	format     listFormat
	now        time.Time // in UTC; dates without a year are placed before it
	maxEntries int       // <= 0: no limit

	partial  []byte // an unfinished line carried over to the next Write
	entries  []Entry
	seen     map[string]struct{}
	wasted   int // lines that yielded no new entry
	rejected int
	sample   string
	err      error // sticky: once set, Write refuses more data
}

// newListParser returns a parser for a listing in format. now places LIST
// dates that carry no year; maxEntries (<= 0 for none) bounds the entries
// kept before Write fails with errListingTooLarge.
func newListParser(format listFormat, now time.Time, maxEntries int) *listParser {
	return &listParser{
		format:     format,
		now:        now.UTC(),
		maxEntries: maxEntries,
		seen:       make(map[string]struct{}),
	}
}

// Write parses every complete line in b and keeps the rest for the next
// call, so b may be split anywhere. It fails with errListingTooLarge once a
// limit is passed, and keeps failing, so the caller can abort the transfer.
func (p *listParser) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n := 0
	for n < len(b) {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			p.partial = append(p.partial, b[n:]...)
			if lineTooLong(p.partial) {
				p.err = fmt.Errorf("%w: a line longer than %d bytes", errListingTooLarge, maxListLine)
				return n, p.err
			}
			return len(b), nil
		}
		line := b[n : n+i]
		if len(p.partial) > 0 {
			p.partial = append(p.partial, line...)
			line = p.partial
		}
		n += i + 1
		p.line(line)
		p.partial = p.partial[:0]
		if p.err != nil {
			return n, p.err
		}
	}
	return n, nil
}

// Close parses a last line that came without a newline. It returns the
// error Write returned, if any.
func (p *listParser) Close() error {
	if p.err == nil && len(p.partial) > 0 {
		p.line(p.partial)
	}
	p.partial = nil
	return p.err
}

// Entries returns the entries in the order the server sent them, each name
// once (the first line wins), without "." and "..".
func (p *listParser) Entries() []Entry { return p.entries }

// Rejected returns how many lines no parser understood or named an entry
// that cannot be shown (empty, or containing '/' or NUL), and the first such
// line, cut to a few hundred bytes, for a log message.
func (p *listParser) Rejected() (n int, sample string) { return p.rejected, p.sample }

// lineTooLong reports whether line (terminator excluded, though a last '\r'
// may still be the first half of one) is past maxListLine. Checking partial
// and whole lines the same way makes the outcome independent of how the
// listing was split into Writes.
func lineTooLong(line []byte) bool {
	n := len(line)
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return n > maxListLine
}

// line handles one line with its '\n' removed.
func (p *listParser) line(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > maxListLine {
		p.err = fmt.Errorf("%w: a line longer than %d bytes", errListingTooLarge, maxListLine)
		return
	}
	if isBlank(line) {
		p.waste()
		return
	}
	var r parsedLine
	var v verdict
	if p.format == formatMLSD {
		r, v = parseMLSD(line)
	} else {
		r, v = parseLIST(line, p.now)
	}
	p.add(line, &r, v)
}

// add files the outcome of parsing line.
func (p *listParser) add(line []byte, r *parsedLine, v verdict) {
	switch {
	case v == verdictReject:
		p.reject(line)
		return
	case v == verdictSkip || isDots(r.name):
		p.waste()
		return
	case !validName(r.name):
		p.reject(line)
		return
	}
	if _, dup := p.seen[string(r.name)]; dup {
		p.waste()
		return
	}
	if p.maxEntries > 0 && len(p.entries) >= p.maxEntries {
		p.err = fmt.Errorf("%w: more than %d entries", errListingTooLarge, p.maxEntries)
		return
	}
	e := r.entry
	e.Name = string(r.name)
	if len(r.target) > 0 {
		e.Target = string(r.target)
	}
	p.seen[e.Name] = struct{}{}
	p.entries = append(p.entries, e)
}

func (p *listParser) reject(line []byte) {
	if p.rejected == 0 {
		p.sample = string(line[:min(len(line), maxRejectSample)])
	}
	p.rejected++
	p.waste()
}

// waste counts a line that yielded no entry, and gives up on the listing
// when there are far more of them than any real directory has.
func (p *listParser) waste() {
	p.wasted++
	if p.maxEntries > 0 && p.wasted > p.maxEntries+listSlack {
		p.err = fmt.Errorf("%w: more than %d lines without a new entry", errListingTooLarge, p.maxEntries+listSlack)
	}
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func isDots(name []byte) bool {
	return string(name) == "." || string(name) == ".."
}

// validName reports whether name can be a directory entry: FUSE and the
// kernel cannot carry an empty name, a '/' or a NUL.
// maxNameLen is NAME_MAX: the kernel refuses longer names, so a listing
// line with one is rejected (and logged) rather than shown unusable.
const maxNameLen = 255

func validName(name []byte) bool {
	return len(name) > 0 && len(name) <= maxNameLen && bytes.IndexByte(name, '/') < 0 && bytes.IndexByte(name, 0) < 0
}

// parsedLine is what a line parser makes of one line. Name and Target stay
// as slices of the line until the entry is known to be kept, so that skipped,
// rejected and duplicate lines cost no allocation.
type parsedLine struct {
	entry  Entry // all but Name and Target
	name   []byte
	target []byte
}

// verdict says what a line parser made of a line.
type verdict uint8

const (
	verdictEntry  verdict = iota // an entry, still subject to the name checks
	verdictSkip                  // known noise, dropped silently
	verdictReject                // not understood, counted
)
