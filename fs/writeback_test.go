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
// renaming it moves it in the queue, fsync waits for the upload, and after
// the unmount the queue drains.
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
	// A queued new file renames in the queue, at once (the fake server
	// cannot rename, and its uploads are held).
	must(os.WriteFile(filepath.Join(mnt, "r1"), []byte("renamed\n"), 0o644))
	renamed := make(chan error, 1)
	go func() { renamed <- os.Rename(filepath.Join(mnt, "r1"), filepath.Join(mnt, "r2")) }()
	select {
	case err := <-renamed:
		must(err)
	case <-time.After(5 * time.Second):
		released = true
		close(r.storeGate)
		// The rename must end before the test does: a process that exits
		// with a request in its own mount cannot answer it.
		<-renamed
		t.Fatal("renaming a queued file waited for the held uploads")
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "r2")); err != nil || string(got) != "renamed\n" {
		t.Fatalf("read r2 after renaming queued r1: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "r1")); !os.IsNotExist(err) {
		t.Fatalf("stat r1 after rename: %v", err)
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
	if r.files["/r2"] != "renamed\n" {
		t.Errorf("server has %q for r2", r.files["/r2"])
	}
	if _, ok := r.files["/r1"]; ok {
		t.Error("a file renamed while queued was uploaded under its old name")
	}
	if n := r.stores.Load(); n != 3 {
		t.Errorf("%d uploads, want 3 (a, b, r2)", n)
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
