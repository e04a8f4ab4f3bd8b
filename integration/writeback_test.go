package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWriteback checks -o writeback on every server: what close(2)
// returned for reads back at once from the mount, fsync(2) returns once
// the server has the file, a queued file can be renamed, overwritten and
// removed, and when ftpfs has exited after the unmount the server holds
// exactly what the application wrote.
func TestWriteback(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "writeback", "debug")
			want := map[string][]byte{}
			must(t, os.Mkdir(filepath.Join(m.Dir, "d"), 0o755))
			for i := 0; i < 20; i++ {
				name := fmt.Sprintf("d/f%02d", i)
				size := 100 * i * i
				if i == 19 {
					size = 3 << 20 // past the in-memory buffer
				}
				want[name] = randomBytes(uint64(100+i), size)
				write(t, filepath.Join(m.Dir, name), want[name])
			}
			// Right after close: the mount shows and reads what was written.
			ents, err := os.ReadDir(filepath.Join(m.Dir, "d"))
			must(t, err)
			if len(ents) != 20 {
				t.Fatalf("ls d shows %d files, want 20", len(ents))
			}
			for name, data := range want {
				got, err := os.ReadFile(filepath.Join(m.Dir, name))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %s right after writing: %d bytes, %v (want %d)", name, len(got), err, len(data))
				}
				if fi, err := os.Stat(filepath.Join(m.Dir, name)); err != nil || fi.Size() != int64(len(data)) {
					t.Fatalf("stat %s: %v, %v; want size %d", name, fi, err, len(data))
				}
			}

			// fsync returns once the server has the file.
			synced := randomBytes(7, 200<<10)
			f, err := os.Create(filepath.Join(m.Dir, "synced"))
			must(t, err)
			_, err = f.Write(synced)
			must(t, err)
			must(t, f.Sync())
			mustEqualFile(t, filepath.Join(root, "synced"), synced)
			must(t, f.Close())
			want["synced"] = synced

			// A queued file renamed, overwritten, removed.
			write(t, filepath.Join(m.Dir, "a.tmp"), []byte("renamed\n"))
			must(t, os.Rename(filepath.Join(m.Dir, "a.tmp"), filepath.Join(m.Dir, "a.txt")))
			want["a.txt"] = []byte("renamed\n")
			write(t, filepath.Join(m.Dir, "over"), bytes.Repeat([]byte("first "), 1000))
			write(t, filepath.Join(m.Dir, "over"), []byte("second\n"))
			want["over"] = []byte("second\n")
			write(t, filepath.Join(m.Dir, "gone"), []byte("removed at once\n"))
			must(t, os.Remove(filepath.Join(m.Dir, "gone")))
			if _, err := os.Stat(filepath.Join(m.Dir, "gone")); !os.IsNotExist(err) {
				t.Errorf("stat of a removed queued file: %v, want ENOENT", err)
			}
			for _, name := range []string{"a.txt", "over"} {
				got, err := os.ReadFile(filepath.Join(m.Dir, name))
				if err != nil || !bytes.Equal(got, want[name]) {
					t.Errorf("read %s through the mount: %q, %v; want %q", name, got, err, want[name])
				}
			}

			m.Unmount(t)
			for name, data := range want {
				mustEqualFile(t, filepath.Join(root, name), data)
			}
			for _, name := range []string{"a.tmp", "gone"} {
				if _, err := os.Stat(filepath.Join(root, name)); !os.IsNotExist(err) {
					t.Errorf("%s on the server after the unmount: %v", name, err)
				}
			}
		})
	}
}

// TestWritebackResume checks that uploads queued while the server is away
// survive ftpfs: the unmount waits writeback_wait for them, leaves them
// queued and exits with status 1; the next mount of the same server, here
// without -o writeback, resumes them, says so, and shows them meanwhile.
func TestWritebackResume(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindPureFTPd, root)
	cacheDir := t.TempDir()
	opts := []string{"writeback", "cache_dir=" + cacheDir}
	m := MountServer(t, srv, append(opts, "writeback_wait=2", "retry_timeout=1", "timeout=2")...)
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	want := map[string][]byte{}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("q%d", i)
		want[name] = randomBytes(uint64(200+i), 1000*(i+1))
		write(t, filepath.Join(m.Dir, name), want[name]) // close succeeds: the data is queued
	}
	start := time.Now()
	m.Unmount(t)
	if code := m.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("ftpfs exited with %d after leaving uploads queued, want 1", code)
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("ftpfs took %v to exit with writeback_wait=2", took)
	}
	if !strings.Contains(m.Log(), "operations left in the journal") {
		t.Errorf("the log does not say that uploads were left queued:\n%s", tail(m.Log(), 20))
	}
	for name := range want {
		if _, err := os.Stat(filepath.Join(root, name)); !os.IsNotExist(err) {
			t.Fatalf("%s reached the server that was away: %v", name, err)
		}
	}

	srv.Restart(t)
	// The next mount resumes the journal even without -o writeback.
	m2 := MountServer(t, srv, "cache_dir="+cacheDir)
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(m2.Dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("read %s through the next mount: %d bytes, %v; want %d", name, len(got), err, len(data))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for name, data := range want {
		for {
			got, err := os.ReadFile(filepath.Join(root, name))
			if err == nil && bytes.Equal(got, data) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not on the server 30 s after the next mount (%d bytes, %v)\n%s", name, len(got), err, tail(m2.Log(), 20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.Contains(m2.Log(), "resuming uploads queued by an earlier mount") {
		t.Errorf("the next mount does not say that it resumes the queue:\n%s", tail(m2.Log(), 20))
	}
	m2.Unmount(t)
	if code := m2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("second ftpfs exited with %d, want 0", code)
	}
}

// TestWritebackUnmountWaits checks that ftpfs, unmounted with uploads
// still queued (every server reply held 200 ms by the fault proxy), exits
// only once the server has them all, and a chmod made meanwhile.
func TestWritebackUnmountWaits(t *testing.T) {
	RequireFUSE(t)
	env := newFaultEnv(t, KindPureFTPd, "writeback")
	m := env.m
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}
	env.proxy.Stall(200 * time.Millisecond)
	want := map[string][]byte{}
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("w%d", i)
		want[name] = randomBytes(uint64(300+i), 100<<10)
		write(t, filepath.Join(m.Dir, name), want[name])
	}
	// A mode set while the upload is queued (it carries the mode the file
	// was created with) reaches the server after it.
	must(t, os.Chmod(filepath.Join(m.Dir, "w0"), 0o600))
	// ftpfs status shows the queue.
	out := Run(t, 10*time.Second, Binary(t), "status", m.Dir)
	if !strings.Contains(out, "writeback: on") || !regexp.MustCompile(`queue: +[1-9][0-9]* uploads`).MatchString(out) ||
		!strings.Contains(out, "server:    reachable") {
		t.Errorf("ftpfs status while uploads are queued:\n%s", out)
	}
	m.Unmount(t)
	if !regexp.MustCompile(`all [0-9]+ queued uploads are on the server`).MatchString(m.Log()) {
		t.Errorf("the log does not say when the queue drained:\n%s", tail(m.Log(), 20))
	}
	if fi, err := os.Stat(filepath.Join(env.root, "w0")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of w0 on the server after a chmod while queued: %v, %v; want 0600", fi.Mode(), err)
	}
	if !strings.Contains(m.Log(), "finishing the journaled uploads") {
		t.Errorf("nothing was left to upload at the unmount; the test shows nothing:\n%s", tail(m.Log(), 20))
	}
	if code := m.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("ftpfs exited with %d, want 0", code)
	}
	for name, data := range want {
		mustEqualFile(t, filepath.Join(env.root, name), data)
	}
}

// TestWritebackRandomOps runs the seeded random exerciser on a writeback
// mount whose server answers every reply 20 ms late (so that files are
// reopened, appended to and truncated while their uploads are queued or
// running): every step is read back through the mount, and at the end the
// server's copy is checked after an fsync on a new handle, and after a
// remount.
func TestWritebackRandomOps(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPureFTPd, KindPyftpdlib} {
		t.Run(kind, func(t *testing.T) {
			fe := newFaultEnv(t, kind, "writeback")
			fe.proxy.Stall(20 * time.Millisecond)
			testRandomOps(t, &writeEnv{srv: fe.srv, m: fe.m, writeback: true})
			if n := strings.Count(fe.m.Log(), `cmd="STOR`); n < 10 {
				t.Errorf("only %d uploads; the exerciser did not reach the queue", n)
			}
		})
	}
}
