package integration

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copySource writes a file of n random bytes, dated in 2020, into root (a
// served directory, before its server starts) and returns its bytes.
func copySource(t *testing.T, root, name string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 15))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	p := filepath.Join(root, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return data
}

// cp runs coreutils cp (9.x calls copy_file_range first) from src to dst.
func cp(t *testing.T, src, dst string) {
	t.Helper()
	if _, err := exec.LookPath("cp"); err != nil {
		t.Skip("cp is not installed")
	}
	Run(t, time.Minute, "cp", src, dst)
}

// transfers returns the xferlog lines of proftpd's uploads and downloads
// (direction "o" or "i"; mod_copy logs its copies with another).
func transfers(t *testing.T, srv *Server) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(srv.state, "xferlog.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 11 && (f[11] == "o" || f[11] == "i") {
			out = append(out, l)
		}
	}
	return out
}

// TestCopyOnServer: cp within a proftpd mount with mod_copy (proftpd, and
// proftpd-default, which loads it as Debian's default configuration does)
// copies on the server (SITE CPFR, SITE CPTO): no RETR or STOR, in ftpfs's
// log or the server's transfer log; the copy goes to the temporary upload
// name and is renamed over its target; it is the source byte for byte,
// with the time of the copy, not the source's. Again over the copy, and
// the copy reads back whole through the mount.
func TestCopyOnServer(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindProFTPd, KindProFTPdDefault} {
		t.Run(kind, func(t *testing.T) { testCopyOnServer(t, kind) })
	}
}

func testCopyOnServer(t *testing.T, kind string) {
	root := t.TempDir()
	data := copySource(t, root, "src", 3<<20+17)
	srv := StartServer(t, kind, root)
	m := MountServer(t, srv, "debug")
	for i := range 2 {
		before := len(m.Log())
		start := time.Now().Truncate(time.Second)
		cp(t, filepath.Join(m.Dir, "src"), filepath.Join(m.Dir, "dst"))
		log := m.Log()[before:]
		// To the temporary name, renamed over dst once checked: a program
		// on the server never sees part of the copy under dst.
		if !strings.Contains(log, `cmd="SITE CPTO /.dst.ftpfs-part"`) || !strings.Contains(log, `cmd="RNTO /dst"`) {
			t.Errorf("copy %d: no SITE CPTO to the temporary name, renamed to dst:\n%s", i, tail(log, 30))
		}
		if strings.Contains(log, `cmd="RETR`) || strings.Contains(log, `cmd="STOR`) {
			t.Errorf("copy %d went through the client:\n%s", i, tail(log, 30))
		}
		mustEqualFile(t, filepath.Join(root, "dst"), data)
		fi, err := os.Stat(filepath.Join(root, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.ModTime().Before(start) {
			t.Errorf("copy %d: the server's copy has time %v, want the time of the copy (after %v)", i, fi.ModTime(), start)
		}
		mi, err := os.Stat(filepath.Join(m.Dir, "dst"))
		if err != nil || mi.Size() != int64(len(data)) || mi.ModTime().Before(start) {
			t.Errorf("copy %d: the mount shows %v, %v", i, mi, err)
		}
	}
	if x := transfers(t, srv); len(x) != 0 {
		t.Errorf("the server logged transfers:\n%s", strings.Join(x, "\n"))
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "dst"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("the copy reads back %d bytes (%v), want the source's %d", len(got), err, len(data))
	}
}

// TestCopyFallsBack: on servers without mod_copy (pure-ftpd; vsftpd,
// which answers SITE commands it lacks with "500 Unknown SITE command."),
// cp within the mount still copies (the kernel reads and writes through
// the mount), and the refusal of SITE CPFR is learnt once for the mount. In writeback mode
// on proftpd, a source whose upload is journaled is copied through the
// mount too, never from the server's older file.
func TestCopyFallsBack(t *testing.T) {
	RequireFUSE(t)
	for _, tc := range []struct{ kind, opt string }{
		{KindPureFTPd, ""}, {KindVsftpd, ""}, {KindProFTPd, "writeback"},
	} {
		t.Run(tc.kind+tc.opt, func(t *testing.T) {
			root := t.TempDir()
			data := copySource(t, root, "src", 8<<20+3)
			srv := StartServer(t, tc.kind, root)
			opts := []string{"debug"}
			if tc.opt != "" {
				opts = append(opts, tc.opt)
			}
			m := MountServer(t, srv, opts...)
			src := filepath.Join(m.Dir, "src")
			if tc.opt == "writeback" {
				// A new version, journaled: the server still has the old one.
				data = append(data[:0:0], data...)
				data[0] ^= 0xff
				if err := os.WriteFile(src, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"a", "b"} {
				cp(t, src, filepath.Join(m.Dir, name))
				if tc.opt == "writeback" {
					waitUploaded(t, filepath.Join(root, name), len(data))
				}
				mustEqualFile(t, filepath.Join(root, name), data)
			}
			log := m.Log()
			if tc.opt == "" {
				if n := strings.Count(log, `cmd="SITE CPFR`); n != 1 {
					t.Errorf("%d SITE CPFR for two copies, want 1 (the refusal is learnt)", n)
				}
				return
			}
			// The first cp runs while the new version's upload is journaled
			// (if it has not ended by then, a copy on the server would copy
			// the old one); the second, after it, may copy on the server.
			if i, j := strings.Index(log, `cmd="SITE CPFR /src"`), strings.Index(log, `cmd="RNTO /src"`); i >= 0 && (j < 0 || i < j) {
				t.Errorf("SITE CPFR of the source before its journaled upload:\n%s", tail(log, 40))
			}
		})
	}
}

// waitUploaded waits up to a minute for the server's file p to hold n bytes.
func waitUploaded(t *testing.T, p string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(p); err == nil && fi.Size() == int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %d bytes", p, n)
		}
	}
}
