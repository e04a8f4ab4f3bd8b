package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/textproto"
	"strings"
	"syscall"

	"github.com/jlaffaye/ftp"
)

// Sentinels that Error unwraps to besides the io/fs ones. fs maps each to an
// errno; callers test them with errors.Is.
var (
	// ErrTransient marks a failure that a fresh connection may not repeat:
	// a dropped connection, a timeout, 421, 425, 426, 451.
	ErrTransient = errors.New("transient FTP failure")
	// ErrNoSpace marks 452 and 552: the server has no room for the data.
	ErrNoSpace = errors.New("no space on server")
	// ErrNotSupported marks 500, 502 and 504: the server lacks the command;
	// and an optional command the server refuses by configuration (see
	// refused).
	ErrNotSupported = errors.ErrUnsupported
	// ErrNameTooLong marks a command line the server refused for its length
	// (pyftpdlib: "500 Command too long." past 2,048 bytes).
	ErrNameTooLong = errors.New("command line too long for the server")
	// ErrMaybeDenied marks a 550 whose text says neither "no such file" nor
	// "permission denied" (vsftpd's "Failed to open file.", pure-ftpd's
	// "Can't check for file existence"): the name may be missing or out of
	// reach. It unwraps to fs.ErrNotExist as well; fs tells the two apart
	// with the parent's listing.
	ErrMaybeDenied = errors.New("refused without saying why")
	// ErrUnreachable marks an operation refused at once, without a
	// connection attempt, because the server was found unreachable: an
	// operation spent its retries failing to connect (see reach.go). It is
	// not transient: retrying it at once would learn nothing; the pool's
	// probe finds out when the server is back.
	ErrUnreachable = errors.New("server unreachable")
	// ErrListingTooLarge is returned when a listing exceeds the entry or line
	// limits; the directory cannot be shown safely.
	ErrListingTooLarge = errors.New("listing too large")
)

// Error is a failed FTP operation. Code is the server's reply code, or 0 when
// the failure happened below the protocol (a network error or a timeout).
type Error struct {
	Op   string // lower-case command family: "list", "retr", "login"...
	Path string
	Code int
	Msg  string // the server's reply text, or the cause's message
	Err  error  // the cause as the library or the network reported it
	// kind, when set, replaces what Code and Msg say: an optional command
	// refused by configuration is ErrNotSupported whatever its code.
	kind error
	// dead: the server closed the connection after this reply, so the
	// reply speaks for the session and not for the command (see
	// deadSession).
	dead bool
}

// Error renders the operation, the path and the server's reply as one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d ", e.Code)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap yields the sentinel that classifies the failure and the cause.
func (e *Error) Unwrap() []error {
	errs := []error{e.Err}
	switch {
	case e.dead:
		return append(errs, ErrTransient)
	case e.kind != nil:
		return append(errs, e.kind)
	}
	if s := classify(e.Code, e.Msg, e.Err); s != nil {
		errs = append(errs, s)
	}
	if e.Code == ftp.StatusFileUnavailable && unclear550(e.Msg) && !storageFull(e.Msg) {
		errs = append(errs, ErrMaybeDenied)
	}
	return errs
}

// wrapErr turns whatever jlaffaye/ftp or the network returned into *Error.
// It returns nil for nil and leaves an *Error or a context error untouched.
func wrapErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := &Error{Op: op, Path: path, Err: err, Msg: err.Error()}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code, e.Msg = tp.Code, oneLine(tp.Msg)
	}
	return e
}

// oneLine joins a multi-line reply so that an error stays on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// classify maps a reply code (or a cause below the protocol) to a sentinel.
// 550 is ambiguous: servers use it for "no such file" and for "permission
// denied" alike (vsftpd says "Failed to open file." for both), so the reply
// text decides, and not-exist is the default. 450 and 451 are transient
// unless their text says the server will not do it: proftpd refuses APPE
// by configuration with "451 /f: Append/Restart not permitted, try again",
// and retrying that for a minute helps no one.
func classify(code int, msg string, cause error) error {
	if code/100 == 4 || code/100 == 5 {
		switch {
		case storageFull(msg):
			// Said in words, this outweighs the data connection the
			// server reset as it gave up.
			return ErrNoSpace
		case strings.Contains(strings.ToLower(msg), "input/output error"):
			// The server's own disk failed it (proftpd in its default
			// configuration says so of a full tmpfs: "451 Transfer
			// aborted. Input/output error"); the same bytes would meet
			// the same disk.
			return errServerIO
		}
	}
	if isNetErr(cause) {
		return ErrTransient // whatever the server said last, the connection failed
	}
	switch {
	case oops(msg):
		return ErrTransient // vsftpd's dying words; the session is gone
	case tooLong(code, msg):
		return ErrNameTooLong
	case (code == ftp.StatusFileActionIgnored || code == ftp.StatusActionAborted) && refusalText(msg):
		return iofs.ErrPermission
	}
	switch code {
	case 0:
		if errors.Is(cause, ftp.ErrInvalidCommand) {
			return iofs.ErrInvalid
		}
		return nil
	case ftp.StatusNotAvailable, ftp.StatusCanNotOpenDataConnection,
		ftp.StatusTransfertAborted, ftp.StatusActionAborted, ftp.StatusFileActionIgnored:
		return ErrTransient
	case ftp.Status452, ftp.StatusExceededStorage:
		return ErrNoSpace
	case ftp.StatusBadCommand, ftp.StatusNotImplemented, ftp.StatusNotImplementedParameter:
		return ErrNotSupported
	case ftp.StatusNotLoggedIn, ftp.StatusInvalidCredentials, ftp.StatusBadFileName:
		return iofs.ErrPermission
	case ftp.StatusFileUnavailable, ftp.StatusPageTypeUnknown:
		return classify550(msg)
	}
	return nil
}

// classify550 reads the reply text, which is all that tells "no such file"
// from "permission denied" and "file exists" apart. Not-exist wins when the
// text says so anywhere (ftpserverlib's "Could not access file: ... no such
// file or directory"), and is the default.
func classify550(msg string) error {
	m := strings.ToLower(msg)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(m, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("no such", "not found", "does not exist", "doesn't exist"):
		return iofs.ErrNotExist
	case has("permission", "denied", "not allowed", "forbidden"):
		return iofs.ErrPermission
	case has("exists"):
		return iofs.ErrExist
	}
	return iofs.ErrNotExist
}

// unclear550 reports a 550 whose text classify550 could only default.
func unclear550(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"no such", "not found", "does not exist", "doesn't exist", "permission", "denied", "not allowed", "forbidden", "exists"} {
		if strings.Contains(m, w) {
			return false
		}
	}
	return true
}

// refusalText reports a reply text that says the server will not do
// what was asked, as opposed to cannot now.
func refusalText(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"not permitted", "not allowed", "permission denied", "denied", "disabled", "refused", "forbidden", "not supported"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// errServerIO marks a reply that reports an I/O error of the server's own
// disk: not transient, and EIO to the application.
var errServerIO = errors.New("the server's disk failed")

// storageFull reports a reply that says the server could not store the
// data, whatever its code: vsftpd answers a failed write(2) of the file
// (a full disk, a quota) with "451 Failure writing to local file.",
// pure-ftpd with "451-Error during write to file", proftpd with "452
// Transfer aborted. No space left on device". Sending the bytes again
// would only fill the disk again.
func storageFull(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"no space left", "failure writing to local file", "error during write to file",
		"disk full", "quota", "insufficient storage", "exceeded storage"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// systemErrorOfFile reports a reply that is "path: " and the system's
// error text for that file, as proftpd words a failed utime(2): "501
// /f: Operation not permitted" for an MFMT on a file of another owner. It
// speaks of the file, not of the command, which works on other files.
func systemErrorOfFile(msg string) bool {
	for _, s := range []string{": Operation not permitted", ": Permission denied"} {
		if strings.HasSuffix(strings.TrimSpace(msg), s) {
			return true
		}
	}
	return false
}

// oops reports vsftpd's "500 OOPS: ...", which it sends as it ends the
// session (a failed privileged helper, a bad configuration): it says
// nothing about the command, and a new session may well work.
func oops(msg string) bool {
	return strings.HasPrefix(strings.TrimSpace(msg), "OOPS")
}

// tooLong reports a refusal of the command line for its length
// (pyftpdlib: "500 Command too long."), which a shorter name would cure
// and no fallback command would.
func tooLong(code int, msg string) bool {
	return code/100 == 5 && strings.Contains(strings.ToLower(msg), "too long")
}

// refusedReply reports a reply by which a server refuses an optional
// command for good, by lacking it (500, 502, 504) or by configuration (a
// 4xx or 5xx whose text says so, as proftpd's "451 ...: Append/Restart
// not permitted, try again"). A 550 and its kin speak of the file, not of
// the command, and are not refusals; nor are vsftpd's dying "500 OOPS"
// and a command line too long, which another command would not cure.
func refusedReply(code int, msg string) bool {
	switch {
	case oops(msg) || tooLong(code, msg):
		return false
	case code == ftp.StatusBadCommand || code == ftp.StatusNotImplemented || code == ftp.StatusNotImplementedParameter:
		return true
	case code == ftp.StatusFileUnavailable || code == ftp.StatusBadFileName || code == ftp.StatusExceededStorage ||
		code == ftp.Status452 || code == ftp.StatusNotLoggedIn || code == ftp.StatusNotAvailable:
		return false
	case systemErrorOfFile(msg):
		return false
	}
	return (code/100 == 4 || code/100 == 5) && refusalText(msg)
}

// refused reports whether err is a refusal of the command, by reply (see
// refusedReply), and not a failure of the connection or of a session that
// died after the reply.
func refused(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return !e.dead && !isNetErr(e.Err) && refusedReply(e.Code, e.Msg)
	}
	var tp *textproto.Error
	return errors.As(err, &tp) && !isNetErr(err) && refusedReply(tp.Code, tp.Msg)
}

// asUnsupported returns err, a refusal, as ErrNotSupported with the
// server's reply kept for the log.
func asUnsupported(op, path string, err error) error {
	var we *Error
	if !errors.As(wrapErr(op, path, err), &we) {
		return err
	}
	e := *we
	e.kind = ErrNotSupported
	return &e
}

// deadSession returns err, a reply after which the server closed the
// connection, marked transient: the next session may well succeed.
func deadSession(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Code == 0 {
		return err
	}
	d := *e
	d.dead = true
	return &d
}

// isNetErr reports a failure of the connection itself, after which the
// session cannot be trusted and a fresh one may succeed.
func isNetErr(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}

// IsTransient reports whether err is worth retrying on a fresh connection.
func IsTransient(err error) bool {
	return errors.Is(err, ErrTransient)
}
