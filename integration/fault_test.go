package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultEnv is a server behind a fault proxy and a mount through it, with
// short timeouts so that faults resolve within the test's time.
type faultEnv struct {
	root  string
	srv   *Server
	proxy *FaultProxy
	m     *Mount
	data  []byte // the content of big.bin on the server
}

func newFaultEnv(t *testing.T, kind string, extra ...string) *faultEnv {
	t.Helper()
	root := t.TempDir()
	data := randomBytes(31, 16<<20)
	write(t, filepath.Join(root, "big.bin"), data)
	write(t, filepath.Join(root, "fresh.bin"), data) // read once only, so no page cache hides a fault
	srv := StartKind(t, kind, root)
	proxy, via := ProxyServer(t, srv)
	// The content cache would serve a file read once without the server.
	opts := append([]string{"timeout=2", "retry_timeout=20", "debug", "cache_max_size=0"}, extra...)
	return &faultEnv{root: root, srv: srv, proxy: proxy, m: MountServer(t, via, opts...), data: data}
}

// TestFaults injects each fault while an application reads or writes, and
// checks what the application sees and what the server has.
func TestFaults(t *testing.T) {
	RequireFUSE(t)
	// Servers that bind their passive ports to 127.0.0.1 only, so that the
	// proxy can take the same ports on 127.0.0.2 (ftpserverlib binds
	// 0.0.0.0).
	for _, kind := range []string{KindPureFTPd, KindPyftpdlib} {
		t.Run(kind, func(t *testing.T) {
			env := newFaultEnv(t, kind)
			for _, c := range []struct {
				name string
				fn   func(*testing.T, *faultEnv)
			}{
				{"ControlAndDataCutDuringRead", testCutDuringRead},
				{"DataCutMidRead", testDataCutMidRead},
				{"DataCutMidUpload", testDataCutMidUpload},
				{"StalledReplies", testStalledReplies},
				{"RefusedConnections", testRefused},
			} {
				t.Run(c.name, func(t *testing.T) {
					before := strings.Count(env.m.Log(), "msg=retrying")
					c.fn(t, env)
					// The fault must have happened, and been retried.
					if strings.Count(env.m.Log(), "msg=retrying") == before {
						t.Errorf("no retry in the log: the fault did not bite\n%s", tail(env.m.Log(), 60))
					}
				})
			}
		})
	}
}

func testCutDuringRead(t *testing.T, env *faultEnv) {
	f, err := os.Open(filepath.Join(env.m.Dir, "big.bin"))
	must(t, err)
	defer f.Close()
	got := make([]byte, len(env.data))
	if _, err := io.ReadFull(f, got[:4<<20]); err != nil {
		t.Fatal(err)
	}
	env.proxy.CutAll()
	if _, err := io.ReadFull(f, got[4<<20:]); err != nil {
		t.Fatalf("read after the cut: %v", err)
	}
	if !bytes.Equal(got, env.data) {
		t.Fatalf("bytes differ at %d after the connections were cut", firstDiff(got, env.data))
	}
}

func testDataCutMidRead(t *testing.T, env *faultEnv) {
	env.proxy.CutNextData(1 << 20)
	got, err := os.ReadFile(filepath.Join(env.m.Dir, "fresh.bin"))
	if err != nil || !bytes.Equal(got, env.data) {
		t.Fatalf("read with the data connection cut: %d bytes, %v", len(got), err)
	}
}

func testDataCutMidUpload(t *testing.T, env *faultEnv) {
	data := randomBytes(32, 8<<20)
	env.proxy.CutNextData(2 << 20)
	before := len(env.m.Log())
	if err := os.WriteFile(filepath.Join(env.m.Dir, "up.bin"), data, 0o644); err != nil {
		t.Fatalf("write with the upload cut: %v", err)
	}
	mustEqualFile(t, filepath.Join(env.root, "up.bin"), data)
	// The new file is sent again whole, through its temporary name: never
	// appended to the empty file its create made, in place.
	if log := env.m.Log()[before:]; strings.Contains(log, `cmd="APPE`) {
		t.Errorf("the upload cut short was sent again with APPE:\n%s", tail(log, 30))
	}
}

// testStalledReplies holds every reply for longer than timeout=2, then
// lets them through: the operation must complete, once the stall ends.
func testStalledReplies(t *testing.T, env *faultEnv) {
	must(t, os.Mkdir(filepath.Join(env.m.Dir, "stall"), 0o755))
	env.proxy.CutAll()
	env.proxy.Stall(3 * time.Second)
	time.AfterFunc(4*time.Second, func() { env.proxy.Stall(0) })
	start := time.Now()
	if err := os.WriteFile(filepath.Join(env.m.Dir, "stall", "f"), []byte("after the stall"), 0o644); err != nil {
		t.Fatalf("write through stalled replies: %v", err)
	}
	mustEqualFile(t, filepath.Join(env.root, "stall", "f"), []byte("after the stall"))
	t.Logf("completed after %v", time.Since(start).Round(time.Millisecond))
}

// testRefused refuses new connections for a while after cutting the
// existing ones; an operation made meanwhile succeeds once they are
// accepted again.
func testRefused(t *testing.T, env *faultEnv) {
	env.proxy.Refuse(true)
	env.proxy.CutAll()
	time.AfterFunc(3*time.Second, func() { env.proxy.Refuse(false) })
	got, err := os.ReadFile(filepath.Join(env.m.Dir, "big.bin"))
	if err != nil || !bytes.Equal(got, env.data) {
		t.Fatalf("read while connections were refused for 3 s: %d bytes, %v", len(got), err)
	}
}

// TestFaultBound: when the server stays away past retry_timeout, the
// application gets EIO, in bounded time, and the mount serves again once
// the server is back.
func TestFaultBound(t *testing.T) {
	RequireFUSE(t)
	env := newFaultEnv(t, KindPureFTPd, "retry_timeout=3")
	env.proxy.Refuse(true)
	env.proxy.CutAll()
	start := time.Now()
	b, err := os.ReadFile(filepath.Join(env.m.Dir, "big.bin"))
	took := time.Since(start)
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("read with the server gone: %d bytes, %v, want EIO\n%s", len(b), err, tail(env.m.Log(), 30))
	}
	if took > 15*time.Second {
		t.Errorf("the error took %v", took)
	}
	env.proxy.Refuse(false)
	// The server was found unreachable: operations fail at once until
	// the pool's probe (a second after, then backing off) logs in again.
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err = os.ReadFile(filepath.Join(env.m.Dir, "big.bin"))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !bytes.Equal(got, env.data) {
		t.Fatalf("read once the server is back: %d bytes, %v", len(got), err)
	}
	if env.m.Exited() {
		t.Fatal("ftpfs exited")
	}
}

// TestServerRestart kills a real server in the middle of a large read and
// of a large write and starts it again: the read returns the right bytes,
// the written file is whole on the server.
func TestServerRestart(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPyftpdlib, KindPureFTPd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			data := randomBytes(33, 24<<20)
			write(t, filepath.Join(root, "big.bin"), data)
			srv := StartServer(t, kind, root)
			m := MountServer(t, srv, "timeout=3", "retry_timeout=30")
			restart := func() {
				srv.Kill(t)
				time.Sleep(500 * time.Millisecond)
				srv.Restart(t)
			}
			f, err := os.Open(filepath.Join(m.Dir, "big.bin"))
			must(t, err)
			got := make([]byte, len(data))
			_, err = io.ReadFull(f, got[:8<<20])
			must(t, err)
			restart()
			_, err = io.ReadFull(f, got[8<<20:])
			f.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read across a restart: %v (difference at %d)", err, firstDiff(got, data))
			}

			out, err := os.Create(filepath.Join(m.Dir, "up.bin"))
			must(t, err)
			_, err = out.Write(data[:8<<20])
			must(t, err)
			restart()
			_, err = out.Write(data[8<<20:])
			must(t, err)
			if err := out.Close(); err != nil {
				t.Fatalf("close after a restart: %v", err)
			}
			mustEqualFile(t, filepath.Join(root, "up.bin"), data)
		})
	}
}

// TestSessionLimit runs 8 readers and writers at once against a pure-ftpd
// that allows 2 sessions: every one must succeed with the right data.
func TestSessionLimit(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	data := randomBytes(34, 4<<20)
	for i := 0; i < 4; i++ {
		write(t, filepath.Join(root, fmt.Sprintf("in%d", i)), data)
	}
	srv := StartServer(t, KindPureFTPd, root, WithMaxSessions(2))
	m := MountServer(t, srv, "connections=8", "debug")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(filepath.Join(m.Dir, fmt.Sprintf("in%d", i)))
			if err == nil && !bytes.Equal(got, data) {
				err = fmt.Errorf("in%d differs", i)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- os.WriteFile(filepath.Join(m.Dir, fmt.Sprintf("out%d", i)), data, 0o644)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < 4; i++ {
		mustEqualFile(t, filepath.Join(root, fmt.Sprintf("out%d", i)), data)
	}
}
