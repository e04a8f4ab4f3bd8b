package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// verifyData is 3 MiB and a few bytes of a pattern that repeats rarely.
func verifyData() []byte {
	b := make([]byte, 3<<20+5)
	for i := range b {
		b[i] = byte(i*31 + i>>11)
	}
	return b
}

// checkedBy returns the checks the debug log says each upload of name ran
// ("upload checked" lines).
func checkedBy(log, name string) []string {
	var checks []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `msg="upload checked"`) || !strings.Contains(l, "path="+name) {
			continue
		}
		_, c, _ := strings.Cut(l, "check=")
		if strings.HasPrefix(c, `"`) {
			c, _, _ = strings.Cut(c[1:], `"`)
		} else {
			c, _, _ = strings.Cut(c, " ")
		}
		checks = append(checks, c)
	}
	return checks
}

// TestUploadVerifiedByDigest: on proftpd with mod_digest, an upload through
// the mount is compared with the server's SHA-256 of the stored file (HASH,
// in the flight after the 226); OPTS HASH SHA-256 (proftpd selects SHA-1
// first) goes before the STOR, so that proftpd hashes the bytes as they
// arrive and answers HASH from its transfer cache; -o verify=size sends no
// HASH. Both store the same bytes.
func TestUploadVerifiedByDigest(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindProFTPd, root, WithDigest())
	data := verifyData()
	for _, c := range []struct {
		name, opt, want string
		hash            int
	}{
		{"digest", "debug", "SHA-256 (HASH), size", 1},
		{"size", "verify=size", "size", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := []string{"debug"}
			if c.opt != "debug" {
				opts = append(opts, c.opt)
			}
			m := MountServer(t, srv, opts...)
			name := "f-" + c.name
			must(t, os.WriteFile(filepath.Join(m.Dir, name), data, 0o644))
			mustEqualFile(t, filepath.Join(root, name), data)
			log := m.Log()
			if got := checkedBy(log, "/"+name); len(got) != 1 || got[0] != c.want {
				t.Errorf("checks logged for the upload: %q, want [%q]\n%s", got, c.want, tail(log, 40))
			}
			if n := strings.Count(log, `cmd="HASH `); n != c.hash {
				t.Errorf("HASH sent %d times, want %d", n, c.hash)
			}
			if c.hash > 0 {
				opts, stor := strings.Index(log, `cmd="OPTS HASH SHA-256"`), strings.Index(log, `cmd="STOR `)
				if opts < 0 || stor < 0 || opts > stor {
					t.Errorf("OPTS HASH SHA-256 at %d in the log, the STOR at %d: want OPTS first", opts, stor)
				}
			}
		})
	}
}

// TestUploadVerifiedBySizeWithoutDigest: pure-ftpd offers no digest
// command; an upload is checked by its size, as the log says, and no
// digest command is sent.
func TestUploadVerifiedBySizeWithoutDigest(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindPureFTPd, root)
	m := MountServer(t, srv, "debug")
	data := verifyData()
	must(t, os.WriteFile(filepath.Join(m.Dir, "f"), data, 0o644))
	mustEqualFile(t, filepath.Join(root, "f"), data)
	log := m.Log()
	if got := checkedBy(log, "/f"); len(got) != 1 || got[0] != "size" {
		t.Errorf("checks logged for the upload: %q, want [size]\n%s", got, tail(log, 40))
	}
	for _, v := range []string{`cmd="HASH`, `cmd="XSHA`, `cmd="XMD5`, `cmd="XCRC`} {
		if strings.Contains(log, v) {
			t.Errorf("%s sent to a server without digests", v)
		}
	}
}

// TestUploadDigestMismatch: a server that stores other bytes than it
// received (the in-process server told to invert the first byte; the size
// stays right) fails the digest check. Once, the upload is sent again and
// close(2) succeeds with the right bytes on the server; always, close
// fails with EIO after retry_timeout and the bytes are kept under
// cache_dir/unsaved/ (at the release, after one more attempt).
func TestUploadDigestMismatch(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	var corrupt atomic.Int32
	srv := StartInProcessHash(t, root, &corrupt)
	m := MountServer(t, srv, "debug", "retry_timeout=2")
	data := verifyData()

	corrupt.Store(1)
	must(t, os.WriteFile(filepath.Join(m.Dir, "once"), data, 0o644))
	mustEqualFile(t, filepath.Join(root, "once"), data)
	if got := checkedBy(m.Log(), "/once"); len(got) != 2 || got[1] != "SHA-256 (XSHA256), size" {
		t.Errorf("checks logged: %q, want a failed one and then [SHA-256 (XSHA256), size]", got)
	}

	corrupt.Store(1 << 20)
	err := os.WriteFile(filepath.Join(m.Dir, "always"), data, 0o644)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("write of an upload always corrupted: %v, want EIO", err)
	}
	// The release, just after close(2) returns, tries once more before
	// it keeps the bytes.
	var kept []os.DirEntry
	found := false
	for deadline := time.Now().Add(30 * time.Second); !found && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		kept, _ = os.ReadDir(filepath.Join(m.CacheDir, "unsaved"))
		for _, e := range kept {
			if b, err := os.ReadFile(filepath.Join(m.CacheDir, "unsaved", e.Name())); err == nil && bytes.Equal(b, data) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the bytes are not kept under unsaved/ (%d files there)\n%s", len(kept), tail(m.Log(), 30))
	}
	if !strings.Contains(m.Log(), "the server's SHA-256 of the upload is") {
		t.Errorf("the mismatch is not in the log")
	}
}
