package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverDisk mounts a tmpfs of size bytes on a new directory for a server
// to serve: a disk that fills. It skips where tmpfs cannot be mounted (not
// root).
func serverDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the server (%v: %s); needs root", err, strings.Join(strings.Fields(string(out)), " "))
	}
	// Registered before the server starts, so it runs after the server
	// stops.
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// eventually polls cond for up to 5 s: a file whose close failed is shown
// as the server has it from its release on, which the kernel sends just
// after close(2) returns.
func eventually(cond func() bool) bool {
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if cond() || time.Now().After(end) {
			return cond()
		}
	}
}

// serverNames lists root's entries.
func serverNames(t *testing.T, root string) []string {
	t.Helper()
	des, err := os.ReadDir(root)
	must(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestServerDiskFull fills the server's disk with an upload: the close
// fails with ENOSPC (or EIO where the server does not say why) after a
// few answers at most (no minute of retries),
// the server keeps the file's previous version (a truncate that grows a
// file goes up whole, never as part of an APPE) and no temporary file,
// the mount then shows what the server has, and the bytes are kept under
// cache_dir/unsaved.
func TestServerDiskFull(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd, KindPureFTPd, KindProFTPdDefault, KindPyftpdlib} {
		t.Run(kind, func(t *testing.T) {
			root := serverDisk(t, "32m")
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "debug", "timeout=5")
			f, g := filepath.Join(m.Dir, "f"), filepath.Join(m.Dir, "g")
			write(t, f, []byte("old\n"))
			// What the server says: pyftpdlib "426 None; transfer
			// aborted.", proftpd in its default configuration "451
			// Transfer aborted. Input/output error".
			want := "No space left on device"
			if kind == KindPyftpdlib || kind == KindProFTPdDefault {
				want = "Input/output error"
			}

			for _, p := range []string{f, g} {
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				out, err := exec.CommandContext(ctx, "truncate", "-s", "64M", p).CombinedOutput()
				cancel()
				if err == nil || !strings.Contains(string(out), want) {
					t.Errorf("truncate -s 64M %s on a 32 MiB disk: %v, %s; want %s\n%s", filepath.Base(p), err, out, want, tail(m.Log(), 30))
				}
			}
			if !eventually(func() bool { fi, err := os.Stat(f); return err == nil && fi.Size() == 4 }) {
				fi, err := os.Stat(f)
				t.Errorf("the mount shows f as %v, %v; want its 4 bytes on the server", fi, err)
			}
			// truncate(2) on the path, no handle open: uploaded within the
			// call, and after its failure the file is shown as it was.
			if err := syscall.Truncate(f, 64<<20); err == nil {
				t.Error("truncate(2) to 64 MiB on a 32 MiB disk succeeded")
			}
			if fi, err := os.Stat(f); err != nil || fi.Size() != 4 {
				t.Errorf("after a failed truncate(2) the mount shows f as %v, %v; want its 4 bytes", fi, err)
			}
			if !eventually(func() bool { _, err := os.Stat(g); return errors.Is(err, os.ErrNotExist) }) {
				fi, err := os.Stat(g)
				t.Errorf("the mount shows g, which the server does not have: %v, %v", fi, err)
			}
			mustEqualFile(t, f, []byte("old\n"))
			mustEqualFile(t, filepath.Join(root, "f"), []byte("old\n"))
			if names := serverNames(t, root); len(names) != 1 {
				t.Errorf("the server's directory holds %q; want only f", names)
			}
			kept, _ := os.ReadDir(filepath.Join(m.CacheDir, "unsaved"))
			if len(kept) != 2 {
				t.Errorf("cache_dir/unsaved holds %d files, want 2 (f and g)\n%s", len(kept), m.Log())
			}
		})
	}
}

// TestKilledWriter kills a writer whose close is uploading a large file:
// the process ends at once (not when the upload ends), the server keeps
// the previous version and no temporary file, and the bytes are kept.
func TestKilledWriter(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd} {
		t.Run(kind, func(t *testing.T) {
			root := serverDisk(t, "3g")
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "debug", "timeout=5")
			f := filepath.Join(m.Dir, "f")
			write(t, f, []byte("old\n"))

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "truncate", "-s", "100G", f)
			must(t, cmd.Start())
			started := eventually(func() bool {
				fi, err := os.Stat(filepath.Join(root, ".f.ftpfs-part"))
				return err == nil && fi.Size() > 1<<20
			})
			if !started {
				t.Fatalf("no upload under way on the server: %q", serverNames(t, root))
			}
			must(t, cmd.Process.Signal(syscall.SIGINT))
			ended := make(chan error, 1)
			go func() { ended <- cmd.Wait() }()
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("truncate did not end 10 s after SIGINT")
			}
			// Said at the release, which the kernel sends after the
			// process ended: wait for it.
			if !eventually(func() bool { return strings.Contains(m.Log(), "the writer was killed") }) {
				t.Errorf("the upload was not stopped by the kill:\n%s", tail(m.Log(), 20))
			}
			if !eventually(func() bool { return len(serverNames(t, root)) == 1 }) {
				t.Errorf("the server's directory holds %q; want only f", serverNames(t, root))
			}
			mustEqualFile(t, filepath.Join(root, "f"), []byte("old\n"))
			if !eventually(func() bool { fi, err := os.Stat(f); return err == nil && fi.Size() == 4 }) {
				fi, err := os.Stat(f)
				t.Errorf("the mount shows f as %v, %v; want its 4 bytes on the server", fi, err)
			}
			kept, _ := os.ReadDir(filepath.Join(m.CacheDir, "unsaved"))
			if len(kept) != 1 {
				t.Errorf("cache_dir/unsaved holds %d files, want 1", len(kept))
			}
		})
	}
}
