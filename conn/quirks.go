package conn

import (
	"log/slog"
	"sync/atomic"
)

// quirks is what the pool learnt about the server from its first session
// and applies to every session it dials after.
type quirks struct {
	// listHidden sends "LIST -a": servers without MLSD (vsftpd among them)
	// leave dot files out of a bare LIST.
	listHidden bool
	// ref is what the server refused so far; shared by every session.
	ref *refusals
}

// optional is a command that a server may lack or refuse by configuration,
// and that ftpfs can do without.
type optional int

const (
	optEPSV     optional = iota // PASV instead
	optMLSD                     // LIST instead
	optSize                     // the upload is trusted on its 226
	optSetTime                  // MFMT, or vsftpd's "MDTM time path": the time is kept locally
	optChmod                    // SITE CHMOD: the mode is kept locally
	optAppe                     // the whole file is stored instead
	optRestRetr                 // REST before RETR: the file is read from its start
	optPRET                     // sent by the library where FEAT lists it
	optUTF8                     // OPTS UTF8 ON, sent by the library where FEAT lists UTF8
	optTempName                 // STOR to a temporary name: uploads go in place
	optFEAT                     // sent by the library at each login: no extensions are used
	optMDTM                     // MDTM of each listed file: LIST's times (minutes) are shown
	optCopy                     // SITE CPFR/CPTO (proftpd's mod_copy): copies go through the client
	optDigest                   // HASH or XSHA256...: uploads are checked by their size only
	optAhead                    // a data connection opened ahead: each transfer asks for its own
	numOptional
)

// optionalInfo names each optional command and what ftpfs does without it,
// for the one log line that says so.
var optionalInfo = [numOptional]struct{ cmd, instead string }{
	optEPSV:     {"EPSV", "using PASV"},
	optMLSD:     {"MLSD", "listing with LIST"},
	optSize:     {"SIZE", "trusting each upload's 226 without checking its size"},
	optSetTime:  {"MFMT", "keeping modification times in ftpfs for the mount's life"},
	optChmod:    {"SITE CHMOD", "keeping modes in ftpfs for the mount's life"},
	optAppe:     {"APPE", "storing the whole file for each append"},
	optRestRetr: {"REST", "reading files from their start to the offset asked for"},
	optPRET:     {"PRET", "no longer sending it"},
	optUTF8:     {"OPTS UTF8", "sending names as they are"},
	optTempName: {"uploads to a temporary name", "uploading in place"},
	optFEAT:     {"FEAT", "using no extensions (the library still asks at each login)"},
	optMDTM:     {"MDTM", "showing LIST's times (to the minute, or the day for files older than six months)"},
	optCopy:     {"SITE CPFR", "copying files by reading and writing them"},
	optDigest:   {"its digest command (HASH or XSHA256...)", "checking uploads by their size only"},
	optAhead:    {"data connections opened ahead of the transfer", "opening each when its transfer starts"},
}

// refusals records the optional commands the server refused, once per
// mount: after the first refusal no session sends the command again
// (sessions dialed before the refusal of EPSV or OPTS UTF8 have sent
// theirs already, and the library skips a refused EPSV on its own). It is
// safe for concurrent use.
type refusals struct {
	log *slog.Logger
	off [numOptional]atomic.Bool
}

func newRefusals(log *slog.Logger) *refusals { return &refusals{log: log} }

// refused reports whether the server refused c before. A nil *refusals
// (a session dialed outside a pool, in tests) knows of none.
func (r *refusals) refused(c optional) bool {
	return r != nil && r.off[c].Load()
}

// learn records that the server refused c with reply, and logs it the
// first time.
func (r *refusals) learn(c optional, reply string) {
	if r == nil || !r.off[c].CompareAndSwap(false, true) {
		return
	}
	r.log.Info("the server refuses "+optionalInfo[c].cmd+"; "+optionalInfo[c].instead, "reply", reply)
}

// disable turns c off without a refusal, as an option asks.
func (r *refusals) disable(c optional) { r.off[c].Store(true) }

// optionalVerbs maps the commands the library sends on its own, unseen by
// ftpfs's code, to what their refusal disables; ctlConn watches their
// replies.
var optionalVerbs = map[string]optional{
	"EPSV":      optEPSV,
	"PRET":      optPRET,
	"OPTS UTF8": optUTF8,
	"FEAT":      optFEAT,
}
