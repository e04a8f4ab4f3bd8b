package fs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestWritebackQueue checks the writeback mode against a server whose
// uploads wait for the test: close returns before the upload, the file
// reads back from the queue, removing a queued file cancels its upload,
// fsync waits for the upload, and after the unmount the queue drains.
func TestWritebackQueue(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("fs mount tests run as root with /dev/fuse")
	}
	r := bigRemote(0)
	r.storeGate = make(chan struct{})
	mnt := t.TempDir()
	opts := Options{RemoteRoot: "/", CacheTTL: time.Minute, PrefetchConns: 1, Writeback: true,
		QueueDir: t.TempDir(), CacheDir: t.TempDir()}
	srv, err := Mount(mnt, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	released := false
	defer func() {
		if !released {
			close(r.storeGate)
		}
	}()

	// One worker: it takes a and waits in Store; gone stays queued.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(mnt, "a"), []byte("queued a\n"), 0o644))
	waitFor(t, func() bool { return r.stores.Load() == 1 })
	must(os.WriteFile(filepath.Join(mnt, "gone"), []byte("never sent\n"), 0o644))
	if got, err := os.ReadFile(filepath.Join(mnt, "a")); err != nil || string(got) != "queued a\n" {
		t.Fatalf("read a while queued: %q, %v", got, err)
	}
	must(os.Remove(filepath.Join(mnt, "gone")))
	if _, err := os.Stat(filepath.Join(mnt, "gone")); !os.IsNotExist(err) {
		t.Fatalf("stat gone after remove: %v", err)
	}

	f, err := os.Create(filepath.Join(mnt, "b"))
	must(err)
	_, err = f.Write([]byte("synced b\n"))
	must(err)
	synced := make(chan error, 1)
	go func() { synced <- f.Sync() }()
	select {
	case err := <-synced:
		t.Fatalf("fsync returned (%v) while the upload was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	released = true
	close(r.storeGate)
	select {
	case err := <-synced:
		must(err)
	case <-time.After(10 * time.Second):
		t.Fatal("fsync did not return after the upload was let through")
	}
	must(f.Close())
	r.mu.Lock()
	got := r.files["/b"]
	r.mu.Unlock()
	if got != "synced b\n" {
		t.Fatalf("server has %q for b after fsync", got)
	}

	must(srv.Unmount(5 * time.Second))
	unmounted = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if left := srv.DrainUploads(ctx); left != 0 {
		t.Fatalf("%d uploads left after the drain", left)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.files["/a"] != "queued a\n" {
		t.Errorf("server has %q for a", r.files["/a"])
	}
	if _, ok := r.files["/gone"]; ok {
		t.Error("a file removed while queued was uploaded")
	}
	if n := r.stores.Load(); n != 2 {
		t.Errorf("%d uploads, want 2 (a, b)", n)
	}
	if ents, err := os.ReadDir(opts.QueueDir); err != nil || len(ents) != 0 {
		t.Errorf("queue not empty after the drain: %v, %v", ents, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
