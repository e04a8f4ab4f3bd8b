package conn

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"time"
)

// Verify values of Config.Verify.
const (
	// VerifyDigest checks each upload against the server's digest of the
	// stored file where the server offers one, and by its size elsewhere.
	VerifyDigest = "digest"
	// VerifySize checks each upload by its size only (SIZE).
	VerifySize = "size"
)

// digestRate is the slowest rate, in bytes a second, at which a server is
// taken to compute its digest of a stored file. Its reply comes once it
// has read and hashed the whole file, after the 226: proftpd's mod_digest
// (2.0.0, proftpd 1.3.8) queues its "Computing..." progress lines and
// sends them with the digest, so nothing arrives in the meantime
// (measured here: HASH of a 2 GiB file, every line of the reply at
// 6.5 s). It hashed SHA-256 at 330 MB/s from a cold page cache and
// SHA-512 at 610 MB/s from a warm one; 50 MB/s leaves room for a slow
// disk, a slower CPU and a busy server.
const digestRate = 50e6

// digestWait is how long the reply to a digest command of a file of size
// bytes may take: the base timeout every reply gets (Config.Timeout),
// plus size at rate bytes a second (digestRate: 30 s + 215 s for 10 GiB).
// No base timeout stays none.
func digestWait(base time.Duration, size int64, rate float64) time.Duration {
	if base <= 0 {
		return 0
	}
	more := float64(size) / rate * float64(time.Second)
	if more >= float64(math.MaxInt64-base) {
		return math.MaxInt64
	}
	return base + time.Duration(more)
}

// digestAlgo is a digest a server may compute of a stored file, under its
// name in draft-bryan-ftpext-hash (FEAT "HASH", OPTS HASH) and its older
// command (XSHA512 ... XCRC, from proftpd's mod_digest and ftpserverlib).
type digestAlgo struct {
	name   string // in HASH and OPTS HASH: "SHA-256"
	xcmd   string // the command of its own: "XSHA256"
	hexLen int    // length of the digest in hex digits
	new    func() hash.Hash
}

// digestAlgos are the digests ftpfs can compare, in the order of
// preference: an upload is checked with the first one the server offers.
// SHA-256 comes before SHA-512: for telling a changed byte both are more
// than enough, and SHA-256 costs less on both sides where the CPU has SHA
// instructions (Go's sha256 1300 MB/s against sha512's 395 MB/s on the
// test machine; proftpd's HASH of 256 MiB 0.58 s against 0.75 to 1.0 s).
// The weaker ones follow, strongest first.
var digestAlgos = []digestAlgo{
	{"SHA-256", "XSHA256", 64, sha256.New},
	{"SHA-512", "XSHA512", 128, sha512.New},
	{"SHA-1", "XSHA1", 40, sha1.New},
	{"MD5", "XMD5", 32, md5.New},
	{"CRC32", "XCRC", 8, func() hash.Hash { return crc32.NewIEEE() }},
}

// digestPlan is how uploads on one session are checked by digest: the
// algorithm, and whether through HASH (else its X command).
type digestPlan struct {
	algo    *digestAlgo
	viaHASH bool
}

// String names the check for the debug log: "SHA-256 (HASH)".
func (d *digestPlan) String() string {
	if d.viaHASH {
		return d.algo.name + " (HASH)"
	}
	return d.algo.name + " (" + d.algo.xcmd + ")"
}

// digestPlan returns how this session's uploads are checked by digest, or
// nil: with -o verify=size, after the server refused its digest command,
// or where FEAT offers none. HASH (draft-bryan-ftpext-hash section 3) is
// preferred: it takes the rest of the line as the path, where the X
// commands read arguments after it (a start and an end offset), so these
// are used only for paths without a space. FEAT "HASH" lists the
// algorithms, the selected one marked "*" (proftpd: "HASH
// CRC32;MD5;SHA-1*;SHA-256;SHA-512;"); ftpserverlib lists them without
// the "HASH" name, which is why its X commands are used.
func (s *Session) digestPlan(ref *refusals, paths ...string) *digestPlan {
	if s.cfg == nil || s.cfg.Verify == VerifySize || ref.refused(optDigest) {
		return nil
	}
	if list, ok := s.feat["HASH"]; ok {
		offered := map[string]bool{}
		for _, a := range strings.Split(list, ";") {
			a = strings.ToUpper(strings.TrimSpace(a))
			if strings.HasSuffix(a, "*") {
				a = strings.TrimSuffix(a, "*")
				if s.hashSel == "" {
					s.hashSel = a
				}
			}
			offered[a] = true
		}
		for i := range digestAlgos {
			if offered[digestAlgos[i].name] {
				return &digestPlan{algo: &digestAlgos[i], viaHASH: true}
			}
		}
	}
	for _, p := range paths {
		if strings.Contains(p, " ") {
			return nil
		}
	}
	for i := range digestAlgos {
		if _, ok := s.feat[digestAlgos[i].xcmd]; ok {
			return &digestPlan{algo: &digestAlgos[i]}
		}
	}
	return nil
}

// selectFirst selects the plan's algorithm for HASH before the upload,
// where the session has another one (proftpd starts with SHA-1): proftpd's
// mod_digest computes the selected digest of an upload's bytes as they
// arrive and keeps it (its transfer cache, for DigestCache's maxAge, 30 s
// by default, from the file's mtime), so that the HASH after the 226 is
// answered at once instead of after reading the whole file again
// (measured, 2 GiB: 0.00 s against 2.3 s from a warm page cache and 6.5 s
// from a cold one). One round trip, once per session. A refusal leaves
// the OPTS HASH to the flight after the upload (see steps); the error is
// a failure of the connection.
func (d *digestPlan) selectFirst(s *Session) error {
	if !d.viaHASH || s.hashSel == d.algo.name {
		return nil
	}
	code, _, err := s.raw(0, "OPTS HASH %s", d.algo.name)
	if err == nil && code/100 == 2 {
		s.hashSel = d.algo.name
	}
	return err
}

// digesting computes a digest of the bytes an upload sends, as it sends
// them, so that the file is not read twice.
type digesting struct {
	plan *digestPlan
	h    hash.Hash
}

// wrap returns r with every byte read from it added to a fresh digest: a
// retried upload starts the digest again.
func (d *digesting) wrap(r io.Reader) io.Reader {
	if d == nil {
		return r
	}
	d.h = d.plan.algo.new()
	return io.TeeReader(r, d.h)
}

// steps are the commands that ask the server for its digest of path,
// which must hold the bytes sent: OPTS HASH first where the session's
// selected algorithm is another one. The digest's reply may take wait
// (see digestWait). A different digest is ErrTransient, as a short file
// is: the upload is sent again. A refusal of the command (500, 502) is
// learned and the size is the only check from then on; any other reply
// leaves this upload checked by its size, and *checked false: among them
// proftpd's refusals of one file, which speak of the file ("556 PATH:
// Operation not permitted" past DigestMaxSize, 552 under "DigestEnable
// off", 450 with its digest cache full; see refusedReply).
func (d *digesting) steps(s *Session, ref *refusals, op, path string, wait time.Duration, checked *bool) []step {
	want := hex.EncodeToString(d.h.Sum(nil))
	algo := d.plan.algo
	var steps []step
	cmd := algo.xcmd + " " + path
	if d.plan.viaHASH {
		cmd = "HASH " + path
		if s.hashSel != algo.name {
			steps = append(steps, step{cmd: "OPTS HASH " + algo.name, check: func(code int, msg string) error {
				if code/100 == 2 {
					s.hashSel = algo.name
				}
				return nil
			}})
		}
	}
	steps = append(steps, step{cmd: cmd, wait: wait, check: func(code int, msg string) error {
		if code/100 != 2 {
			if refusedReply(code, msg) {
				ref.learn(optDigest, fmt.Sprintf("%d %s", code, oneLine(msg)))
			}
			return nil
		}
		have, ok := parseDigest(msg, algo, d.plan.viaHASH)
		if !ok {
			return nil
		}
		*checked = true
		if !strings.EqualFold(have, want) {
			return &Error{Op: op, Path: path, Err: ErrTransient,
				Msg: fmt.Sprintf("the server's %s of the upload is %s, the bytes sent have %s", algo.name, strings.ToLower(have), want)}
		}
		return nil
	}})
	return steps
}

// parseDigest finds the digest in the reply to HASH or an X command. HASH
// replies "213 SHA-256 0-6 5891b5...03 f" (draft-bryan-ftpext-hash
// section 3.2: algorithm, range, digest, path), after any "213-" lines
// (proftpd: "213-Computing SHA-256 digest"); an X command replies with the
// digest alone on its last line ("250 5891B5...03", proftpd; ftpserverlib
// 213). A HASH reply for another algorithm (OPTS HASH not taken) is not a
// digest to compare.
func parseDigest(msg string, algo *digestAlgo, viaHASH bool) (string, bool) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if viaHASH {
		if len(f) < 3 || !strings.EqualFold(f[0], algo.name) {
			return "", false
		}
		f = f[2:3]
	}
	for _, t := range f {
		if len(t) == algo.hexLen {
			if _, err := hex.DecodeString(t); err == nil {
				return t, true
			}
		}
	}
	return "", false
}
