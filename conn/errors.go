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
	// ErrNotSupported marks 500, 502 and 504: the server lacks the command.
	ErrNotSupported = errors.ErrUnsupported
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
	if s := classify(e.Code, e.Msg, e.Err); s != nil {
		errs = append(errs, s)
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
// text decides, and not-exist is the default.
func classify(code int, msg string, cause error) error {
	if isNetErr(cause) {
		return ErrTransient // whatever the server said last, the connection failed
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
