package integration

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownWhileWriting stops ftpfs (SIGTERM, as Ctrl-C or systemd
// would) while a program is still rewriting an existing file: the writer
// never closed it, so the server must keep its previous version whole;
// the bytes written are kept under unsaved/ and logged with their path and
// size, and ftpfs exits non-zero.
func TestShutdownWhileWriting(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPureFTPd, KindVsftpd, KindInProcess} {
		for _, mode := range []string{"default", "writeback"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				root := t.TempDir()
				old := randomBytes(41, 4<<20)
				write(t, filepath.Join(root, "big"), old)
				srv := StartKind(t, kind, root)
				opts := []string{"debug"}
				if mode == "writeback" {
					opts = append(opts, "writeback")
				}
				m := MountServer(t, srv, opts...)
				f, err := os.OpenFile(filepath.Join(m.Dir, "big"), os.O_WRONLY|os.O_TRUNC, 0)
				must(t, err)
				written := randomBytes(42, 2<<20)
				for off := 0; off < len(written); off += 128 << 10 {
					_, err := f.Write(written[off : off+128<<10])
					must(t, err)
				}
				must(t, m.cmd.Process.Signal(syscall.SIGTERM))
				code := m.ExitCode(30 * time.Second)
				f.Close() // the mount is gone: an error, which the writer sees
				if code != 1 {
					t.Errorf("exit status %d, want 1\n%s", code, m.Log())
				}
				mustEqualFile(t, filepath.Join(root, "big"), old)
				if ents, _ := os.ReadDir(root); len(ents) != 1 {
					t.Errorf("server holds %d names, want only big (a temporary upload left?)", len(ents))
				}
				kept, _ := os.ReadDir(filepath.Join(m.CacheDir, "unsaved"))
				if len(kept) != 1 {
					t.Fatalf("unsaved/ holds %d files, want 1\n%s", len(kept), m.Log())
				}
				mustEqualFile(t, filepath.Join(m.CacheDir, "unsaved", kept[0].Name()), written)
				if log := m.Log(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, fmt.Sprintf("bytes=%d", len(written))) ||
					!strings.Contains(log, "path=/big") {
					t.Errorf("no warning naming the file and its size:\n%s", log)
				}
				// Besides unsaved/: the journal's queue/ and the content
				// cache's content/, never a write buffer.
				if ents, _ := os.ReadDir(m.CacheDir); len(ents) != 1 {
					var names []string
					for _, e := range ents {
						if n := e.Name(); n != "queue" && n != "content" {
							names = append(names, n)
						}
					}
					if strings.Join(names, " ") != "unsaved" {
						t.Errorf("cache_dir holds %v besides queue/ and content/: a write buffer left behind?", names)
					}
				}
			})
		}
	}
}

// TestKillDuringRewrite kills ftpfs with SIGKILL at seeded random moments
// while a program rewrites an existing file in the default mode, the
// upload slowed down by the proxy so that it is under way: the server's
// file must be the old version or the new one, whole. A temporary name
// left by the crash is taken over by the next upload of the file.
func TestKillDuringRewrite(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPureFTPd, KindPyftpdlib} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			old := randomBytes(51, 6<<20)
			write(t, filepath.Join(root, "f"), old)
			srv := StartKind(t, kind, root)
			proxy, via := ProxyServer(t, srv)
			proxy.Throttle(16 << 20)
			outcomes := map[string]int{}
			for seed := int64(1); seed <= 6; seed++ {
				rng := rand.New(rand.NewSource(seed))
				next := randomBytes(uint64(60+seed), 6<<20)
				m := MountServer(t, via)
				wrote := make(chan error, 1)
				go func() { wrote <- os.WriteFile(filepath.Join(m.Dir, "f"), next, 0o644) }()
				time.Sleep(time.Duration(rng.Int63n(int64(700 * time.Millisecond))))
				m.Kill(t)
				<-wrote
				got, err := os.ReadFile(filepath.Join(root, "f"))
				must(t, err)
				switch {
				case bytes.Equal(got, old):
					outcomes["old"]++
				case bytes.Equal(got, next):
					outcomes["new"]++
					old = next
				default:
					t.Fatalf("seed %d: the server's file is neither version: %d bytes", seed, len(got))
				}
			}
			t.Logf("outcomes over 6 seeds: %v", outcomes)
			// The next upload takes over what a crash left.
			proxy.Throttle(0)
			m := MountServer(t, via)
			final := randomBytes(70, 1<<20)
			write(t, filepath.Join(m.Dir, "f"), final)
			m.Unmount(t)
			mustEqualFile(t, filepath.Join(root, "f"), final)
			if ents, _ := os.ReadDir(root); len(ents) != 1 {
				t.Errorf("server holds %d names after a clean upload, want 1", len(ents))
			}
		})
	}
}

// TestShellRedirectKeepsServerFile rewrites an existing file the way a
// shell does (`cmd > file`: open with O_TRUNC, dup2 onto stdout, close
// the first descriptor, which flushes): until the command's last close
// the server keeps its previous file, then it gets the new one, uploaded
// once.
func TestShellRedirectKeepsServerFile(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindPureFTPd, KindInProcess} {
		for _, mode := range []string{"default", "writeback"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				root := t.TempDir()
				old := randomBytes(91, 1<<20)
				write(t, filepath.Join(root, "old"), old)
				srv := StartKind(t, kind, root)
				opts := []string{"debug"}
				if mode == "writeback" {
					opts = append(opts, "writeback")
				}
				m := MountServer(t, srv, opts...)
				done := make(chan string, 1)
				go func() {
					out, err := exec.Command("bash", "-c", `(sleep 1; echo new) > "$0"`, filepath.Join(m.Dir, "old")).CombinedOutput()
					done <- fmt.Sprint(string(out), err)
				}()
				time.Sleep(500 * time.Millisecond)
				mustEqualFile(t, filepath.Join(root, "old"), old)
				if res := <-done; res != "<nil>" {
					t.Fatalf("bash: %s", res)
				}
				m.Unmount(t)
				mustEqualFile(t, filepath.Join(root, "old"), []byte("new\n"))
				if n := strings.Count(m.Log(), `cmd="STOR`); n != 1 {
					t.Errorf("%d uploads, want 1", n)
				}
			})
		}
	}
}
