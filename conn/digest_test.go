package conn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

// digestPool serves a temporary directory through ftpserverlib with its
// digest commands on (hash) and uploads corrupted while *corrupt > 0,
// and returns a pool logged in to it with the given Verify; tweak may
// change the server's and the pool's configurations first.
func digestPool(t *testing.T, hash bool, corrupt *atomic.Int32, verify string, tweak ...func(*testserver.Config, *Config)) (*Pool, *transcript, string) {
	t.Helper()
	root := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scfg := testserver.Config{Root: root, User: "u", Password: "p", Hash: hash, Corrupt: corrupt}
	tr := &transcript{}
	log := slog.New(slog.NewTextHandler(tr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u", Password: "p",
		Connections: 2, Logger: log, Timeout: 5 * time.Second, RetryTimeout: 2 * time.Second, Verify: verify,
	}
	for _, f := range tweak {
		f(&scfg, &cfg)
	}
	srv, err := testserver.Start(ln, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	p, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, tr, root
}

func (tr *transcript) has(s string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Contains(tr.buf.String(), s)
}

func digestTestData() []byte {
	data := make([]byte, 1<<20+17)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	return data
}

// An upload to a server with digest commands is checked by the strongest
// one (ftpserverlib: XSHA256, its FEAT lacks the "HASH" name), sent in the
// flight after the 226, and the debug log says so.
func TestStoreVerifiedByDigest(t *testing.T) {
	p, tr, root := digestPool(t, true, nil, "")
	data := digestTestData()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Store(ctx, "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "f")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("on disk: %d bytes, %v", len(got), err)
	}
	if n := tr.count("XSHA256"); n != 1 {
		t.Errorf("XSHA256 sent %d times, want 1", n)
	}
	if !tr.has(`check="SHA-256 (XSHA256), size"`) {
		t.Errorf("the debug log does not say the digest was checked:\n%s", tr.buf.String())
	}
}

// A corrupted upload (its size right) fails the digest check and is sent
// again; one that stays corrupted fails with ErrTransient once the retries
// are spent, and the caller's bytes are untouched.
func TestStoreDigestMismatch(t *testing.T) {
	var corrupt atomic.Int32
	corrupt.Store(1)
	p, tr, root := digestPool(t, true, &corrupt, "")
	data := digestTestData()
	keep := bytes.Clone(data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Store(ctx, "/once", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatalf("Store after one corrupted attempt: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "once")); !bytes.Equal(got, data) {
		t.Fatal("the server holds corrupted bytes after the retry")
	}
	if n := tr.count("XSHA256"); n != 2 {
		t.Errorf("XSHA256 sent %d times, want 2 (the corrupted attempt, then the good one)", n)
	}
	if !tr.has("the server's SHA-256 of the upload is") {
		t.Errorf("the mismatch is not logged:\n%s", tr.buf.String())
	}

	corrupt.Store(1 << 20)
	_, err := p.Store(ctx, "/always", bytes.NewReader(data), int64(len(data)), Attrs{})
	if !errors.Is(err, ErrTransient) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("Store of an upload always corrupted = %v, want ErrTransient naming the digest", err)
	}
	if !bytes.Equal(data, keep) {
		t.Error("the caller's bytes changed")
	}
}

// With -o verify=size, or where the server offers no digest, the size is
// the only check, and the log says so.
func TestStoreVerifiedBySize(t *testing.T) {
	for _, c := range []struct {
		name   string
		hash   bool
		verify string
	}{{"verify=size", true, VerifySize}, {"no digest offered", false, ""}} {
		t.Run(c.name, func(t *testing.T) {
			p, tr, _ := digestPool(t, c.hash, nil, c.verify)
			data := digestTestData()
			if _, err := p.Store(context.Background(), "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"XSHA", "HASH", "XMD5", "XCRC"} {
				if tr.count(v) != 0 {
					t.Errorf("%s sent", v)
				}
			}
			if !tr.has(`check=size`) {
				t.Errorf("the debug log does not say the size was checked:\n%s", tr.buf.String())
			}
		})
	}
}

// A corrupted upload with -o verify=size passes: the check the option
// keeps cannot see a changed byte (what the digest is for).
func TestStoreSizeOnlyMissesCorruption(t *testing.T) {
	var corrupt atomic.Int32
	corrupt.Store(1)
	p, _, root := digestPool(t, true, &corrupt, VerifySize)
	data := digestTestData()
	if _, err := p.Store(context.Background(), "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); bytes.Equal(got, data) {
		t.Error("the upload was not corrupted: the test server's Corrupt does not work")
	}
}

// parseDigest reads proftpd's (mod_digest) and ftpserverlib's replies.
func TestParseDigest(t *testing.T) {
	sha1a, sha256a := algoNamed(t, "SHA-1"), algoNamed(t, "SHA-256")
	for _, c := range []struct {
		msg     string
		algo    *digestAlgo
		viaHASH bool
		want    string
		ok      bool
	}{
		{"Computing SHA-1 digest\nSHA-1 0-6 f572d396fae9206628714fb2ce00f72e94f2258f f", sha1a, true, "f572d396fae9206628714fb2ce00f72e94f2258f", true},
		// The path may hold spaces and look like a digest.
		{"SHA-1 0-6 f572d396fae9206628714fb2ce00f72e94f2258f a b f572d396fae9206628714fb2ce00f72e94f2258e", sha1a, true, "f572d396fae9206628714fb2ce00f72e94f2258f", true},
		// Another algorithm than ours: OPTS HASH was not taken.
		{"Computing SHA-1 digest\nSHA-1 0-6 f572d396fae9206628714fb2ce00f72e94f2258f f", sha256a, true, "", false},
		{"Computing SHA256 digest\n5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03", sha256a, false, "5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03", true},
		{"Computing SHA256 digest\n5891B5B5", sha256a, false, "", false},
		{"Computing SHA256 digest\n5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BEXX", sha256a, false, "", false},
	} {
		got, ok := parseDigest(c.msg, c.algo, c.viaHASH)
		if got != c.want || ok != c.ok {
			t.Errorf("parseDigest(%q, %s, %v) = %q, %v; want %q, %v", c.msg, c.algo.name, c.viaHASH, got, ok, c.want, c.ok)
		}
	}
}

// The plan: HASH with the strongest algorithm FEAT lists, else the
// strongest X command, none for a path with a space through X commands.
func TestDigestPlan(t *testing.T) {
	cfg := &Config{}
	for _, c := range []struct {
		feat map[string]string
		path string
		want string
	}{
		{map[string]string{"HASH": "CRC32;MD5;SHA-1*;SHA-256;SHA-512;", "XSHA256": ""}, "a b", "SHA-256 (HASH)"},
		{map[string]string{"HASH": "CRC32;MD5;SHA-1*;SHA-512;"}, "f", "SHA-512 (HASH)"},
		{map[string]string{"HASH": "SHA-1*;MD5", "XSHA256": ""}, "f", "SHA-1 (HASH)"},
		{map[string]string{"XMD5": "", "XCRC": "", "XSHA1": ""}, "f", "SHA-1 (XSHA1)"},
		{map[string]string{"XMD5": ""}, "a b", ""},
		{map[string]string{"MDTM": ""}, "f", ""},
	} {
		s := &Session{feat: c.feat, cfg: cfg}
		got := ""
		if d := s.digestPlan(nil, c.path); d != nil {
			got = d.String()
		}
		if got != c.want {
			t.Errorf("digestPlan(%v, %q) = %q, want %q", c.feat, c.path, got, c.want)
		}
	}
	s := &Session{feat: map[string]string{"HASH": "SHA-256"}, cfg: &Config{Verify: VerifySize}}
	if d := s.digestPlan(nil, "f"); d != nil {
		t.Errorf("with Verify=size: %v", d)
	}
}

func algoNamed(t *testing.T, name string) *digestAlgo {
	for i := range digestAlgos {
		if digestAlgos[i].name == name {
			return &digestAlgos[i]
		}
	}
	t.Fatalf("no digest %s", name)
	return nil
}

// The rule for the digest reply's deadline: the base timeout, plus the
// file's size at digestRate; no deadline stays none.
func TestDigestWait(t *testing.T) {
	for _, c := range []struct {
		base time.Duration
		size int64
		rate float64
		want time.Duration
	}{
		{30 * time.Second, 0, digestRate, 30 * time.Second},
		{30 * time.Second, 50e6, digestRate, 31 * time.Second},
		// 10 GiB: 214.75 s more at 50 MB/s, where 30 s timed out.
		{30 * time.Second, 10 << 30, digestRate, 30*time.Second + 214748364800*time.Nanosecond},
		{time.Second, 3e6, 1e6, 4 * time.Second},
		{0, 10 << 30, digestRate, 0},
		{time.Second, math.MaxInt64, digestRate, math.MaxInt64},
	} {
		if got := digestWait(c.base, c.size, c.rate); got != c.want {
			t.Errorf("digestWait(%v, %d, %g) = %v, want %v", c.base, c.size, c.rate, got, c.want)
		}
	}
}

// A digest reply comes once the server has hashed the whole file, which
// for a big file takes longer than any other reply (proftpd's mod_digest
// sends nothing before it is done). Here the server takes longer than
// Config.Timeout, but less than the rule gives a file of this size (at a
// rate lowered to 0.5 MB/s): the upload succeeds, checked by its
// digest, at the first attempt.
func TestStoreDigestReplyWaitsForHashing(t *testing.T) {
	var reads atomic.Int32
	p, tr, _ := digestPool(t, true, nil, "", func(s *testserver.Config, c *Config) {
		s.Reading = func(string) { reads.Add(1); time.Sleep(2 * time.Second) }
		c.Timeout, c.RetryTimeout = time.Second, 2*time.Second
	})
	p.digestRate = 0.5e6 // 1 MiB: 1 s + 2.1 s
	data := digestTestData()
	if _, err := p.Store(context.Background(), "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatalf("upload: %v\n%s", err, tr.buf.String())
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("the server hashed the file %d times, want 1 (one attempt)", n)
	}
	if !tr.has(`check="SHA-256 (XSHA256), size"`) {
		t.Errorf("not checked by digest:\n%s", tr.buf.String())
	}
}

// A refusal of the digest of one file is no refusal of the command:
// proftpd's mod_digest refuses a file past DigestMaxSize ("556 PATH:
// Operation not permitted" to HASH, 550 to the X commands), one in a
// directory with "DigestEnable off" (552), and any while its digest
// cache is full (450). That upload is checked by its size, and the next
// one by digest again; a server that lacks the command (500, 502) is
// learnt.
func TestDigestRefusalPerFile(t *testing.T) {
	for _, c := range []struct {
		code   int
		msg    string
		learnt bool
	}{
		{556, "/big: Operation not permitted", false},
		{550, "/big: Operation not permitted", false},
		{552, "/nodigest/f: Operation not permitted", false},
		{450, "/f: Device or resource busy", false},
		{500, "HASH not understood", true},
		{502, "Command not implemented", true},
	} {
		ref := newRefusals(slog.New(slog.NewTextHandler(io.Discard, nil)))
		s := &Session{hashSel: "SHA-256"}
		dg := &digesting{plan: &digestPlan{algo: algoNamed(t, "SHA-256"), viaHASH: true}}
		dg.wrap(strings.NewReader("data"))
		checked := false
		steps := dg.steps(s, ref, "stor", "/f", time.Second, &checked)
		if len(steps) != 1 || steps[0].cmd != "HASH /f" || steps[0].wait != time.Second {
			t.Fatalf("steps: %+v", steps)
		}
		if err := steps[0].check(c.code, c.msg); err != nil || checked {
			t.Errorf("%d %s: error %v, checked %v; want none, false", c.code, c.msg, err, checked)
		}
		if got := ref.refused(optDigest); got != c.learnt {
			t.Errorf("%d %s: learnt as the server lacking its digest command: %v, want %v", c.code, c.msg, got, c.learnt)
		}
	}
}

// A refused OPTS HASH is no refused OPTS UTF8: the reply to an OPTS is
// judged by its option (verbOf).
func TestOptsHashRefusalIsNotUTF8(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want bool
	}{
		{"OPTS HASH SHA-256", false},
		{"OPTS UTF8 ON", true},
	} {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			buf := make([]byte, 100)
			_, _ = server.Read(buf)
			_, _ = server.Write([]byte("500 OPTS: command not understood\r\n"))
		}()
		ref := newRefusals(slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctl := newCtlConn(client, time.Second, nil, nil)
		ctl.ref = ref
		if _, err := ctl.Write([]byte(c.cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(ctl); err != nil {
			t.Fatal(err)
		}
		client.Close()
		if got := ref.refused(optUTF8); got != c.want {
			t.Errorf("after 500 to %s: OPTS UTF8 learnt as refused: %v, want %v", c.cmd, got, c.want)
		}
	}
}

// A big upload checked by digest (lateRenameSize, lowered here to 1 MiB)
// is renamed over its target only once its checks passed, in a flight of
// its own: a corrupted attempt never reaches the target, and only the
// good attempt sends RNFR, after its digest's reply. A smaller upload's
// rename shares the flight of its checks.
func TestStoreBigRenamedAfterCheck(t *testing.T) {
	var corrupt atomic.Int32
	corrupt.Store(1)
	p, tr, root := digestPool(t, true, &corrupt, "")
	p.lateRename = 1 << 20
	data := digestTestData()
	if _, err := p.Store(context.Background(), "/big", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "big")); !bytes.Equal(got, data) {
		t.Fatal("the server holds other bytes")
	}
	if n, m := tr.count("XSHA256"), tr.count("RNFR"); n != 2 || m != 1 {
		t.Errorf("XSHA256 sent %d times, RNFR %d times; want 2 (a corrupted attempt, then a good one) and 1", n, m)
	}
	sum := sha256.Sum256(data)
	log := strings.ToLower(tr.buf.String())
	reply := strings.LastIndex(log, hex.EncodeToString(sum[:]))
	if rnfr := strings.Index(log, `cmd="rnfr /.big.ftpfs-part"`); reply < 0 || rnfr < reply {
		t.Errorf("RNFR at %d in the log, the good digest's reply at %d: want the reply first", rnfr, reply)
	}

	small := data[:1000]
	if _, err := p.Store(context.Background(), "/small", bytes.NewReader(small), int64(len(small)), Attrs{}); err != nil {
		t.Fatal(err)
	}
	sum = sha256.Sum256(small)
	log = strings.ToLower(tr.buf.String())
	reply = strings.LastIndex(log, hex.EncodeToString(sum[:]))
	if rnfr := strings.Index(log, `cmd="rnfr /.small.ftpfs-part"`); rnfr < 0 || rnfr > reply {
		t.Errorf("RNFR at %d in the log, the digest's reply at %d: want the RNFR in the same flight, first", rnfr, reply)
	}
}
