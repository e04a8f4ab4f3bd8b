package fs

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/cache/contentcache"
	"github.com/ftpfs/ftpfs/conn"
)

// ccRemote serves three small files in / with times a day old, and one
// with a coarse time of the current minute (LIST's), which the content
// cache must not trust.
func ccRemote() *fakeRemote {
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second).UTC()
	r := &fakeRemote{dirs: map[string][]conn.Entry{}, files: map[string]string{}}
	for _, name := range []string{"a", "b", "c"} {
		body := strings.Repeat(name+" line\n", 100)
		r.files["/"+name] = body
		r.dirs["/"] = append(r.dirs["/"], conn.Entry{Name: name, Type: conn.TypeFile, Size: int64(len(body)), ModTime: old, HasTime: true})
	}
	// In a directory of its own, which no walk from / reads ahead
	// before it is listed.
	r.dirs["/"] = append(r.dirs["/"], conn.Entry{Name: "sub", Type: conn.TypeDir, ModTime: old, HasTime: true})
	r.files["/sub/recent"] = "coarse\n"
	r.dirs["/sub"] = []conn.Entry{{Name: "recent", Type: conn.TypeFile, Size: 7,
		ModTime: time.Now().Truncate(time.Minute).UTC(), HasTime: true, TimeGrain: time.Minute}}
	return r
}

// ccMount mounts r with the content cache in dir; the returned function
// unmounts, as a remount's first half.
func ccMount(t *testing.T, r Remote, dir string, prefetch int) (string, func()) {
	t.Helper()
	skipWithoutMount(t)
	mnt := t.TempDir()
	srv, err := Mount(mnt, r, Options{Source: "fake:/", RemoteRoot: "/", CacheTTL: time.Second, PrefetchConns: prefetch,
		ContentCacheDir: dir, ContentIdentity: "fake", ContentCacheMax: 1 << 20,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := false
	stop := func() {
		if done {
			return
		}
		done = true
		if err := srv.Unmount(5 * time.Second); err != nil {
			t.Errorf("unmount: %v", err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		srv.Wait()
		srv.Close()
	}
	t.Cleanup(stop)
	return mnt, stop
}

// readAll reads names in one process, cat, as grep -r would: reading
// ahead keys on the process.
func readAll(t *testing.T, r *fakeRemote, mnt string, names ...string) {
	t.Helper()
	var paths []string
	want := ""
	r.mu.Lock()
	for _, name := range names {
		paths = append(paths, filepath.Join(mnt, name))
		want += r.files["/"+name]
	}
	r.mu.Unlock()
	got, err := exec.Command("cat", paths...).Output()
	if err != nil {
		t.Fatalf("cat %v: %v", names, err)
	}
	if string(got) != want {
		t.Fatalf("cat %v: read %q, want %q", names, got, want)
	}
}

// TestContentCacheAcrossMounts reads files, remounts, and reads them again
// from the content cache without a transfer; a file changed on the server
// (same size, another time) is read anew, and a file whose coarse time is
// recent is never served from the cache. With reading ahead (prefetch)
// the files read ahead are cached too.
func TestContentCacheAcrossMounts(t *testing.T) {
	for _, prefetch := range []int{0, 2} {
		t.Run(map[int]string{0: "handles", 2: "read ahead"}[prefetch], func(t *testing.T) {
			r := ccRemote()
			dir := t.TempDir()
			mnt, stop := ccMount(t, r, dir, prefetch)
			readAll(t, r, mnt, "a", "b", "c", "sub/recent")
			if r.retrs.Load() == 0 {
				t.Fatal("the first reads fetched nothing")
			}
			stop()

			r.retrs.Store(0)
			mnt, stop = ccMount(t, r, dir, prefetch)
			readAll(t, r, mnt, "a", "b", "c")
			if n := r.retrs.Load(); n != 0 {
				t.Errorf("after a remount: %d transfers for files held in the content cache", n)
			}
			readAll(t, r, mnt, "sub/recent")
			if r.retrs.Load() == 0 {
				t.Error("a file with a recent minute-grain time was served from the content cache")
			}
			stop()

			// Changed on the server: same size, other bytes, a later time.
			r.mu.Lock()
			r.files["/b"] = strings.ToUpper(r.files["/b"])
			r.dirs["/"][1].ModTime = r.dirs["/"][1].ModTime.Add(time.Hour)
			r.mu.Unlock()
			r.retrs.Store(0)
			mnt, _ = ccMount(t, r, dir, prefetch)
			readAll(t, r, mnt, "b")
			if r.retrs.Load() == 0 {
				t.Error("a file changed on the server was served from the content cache")
			}
		})
	}
}

// TestContentCacheOff: without a budget no cache is opened and nothing is
// written under the directory.
func TestContentCacheOff(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "content")
	f := newFsys(&fakeRemote{}, Options{ContentCacheDir: dir, ContentCacheMax: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.openContentCache()
	if f.cc != nil || f.ccNote == "" {
		t.Fatalf("cache %v, note %q", f.cc, f.ccNote)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the content cache directory was made: %v", err)
	}
}

// TestContentCacheBusy: a second mount of the same identity runs without
// a content cache, and says so.
func TestContentCacheBusy(t *testing.T) {
	dir := t.TempDir()
	first, err := contentcache.Open(dir, "x", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	f := newFsys(&fakeRemote{}, Options{ContentCacheDir: dir, ContentCacheMax: 1 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.openContentCache()
	if f.cc != nil || !strings.Contains(f.ccNote, "another ftpfs mount") {
		t.Fatalf("cache %v, note %q", f.cc, f.ccNote)
	}
}

// TestOwnChangeDropsContent: a change made through the mount (an upload,
// a rename onto the path, a removal of it or of a directory above it)
// drops what the content cache holds of the path, even where the new
// version lists the same size and time.
func TestOwnChangeDropsContent(t *testing.T) {
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	e := conn.Entry{Name: "f", Type: conn.TypeFile, Size: 5, ModTime: old, HasTime: true}
	cases := []struct {
		name   string
		path   string
		change func(f *fsys)
	}{
		{"upload", "/d/f", func(f *fsys) { f.cacheUpdate("/d/f", e) }},
		{"rename onto it", "/d/f", func(f *fsys) { f.renamed("/d/g", "/d/f", e) }},
		{"rename away", "/d/f", func(f *fsys) { f.renamed("/d/f", "/d/g", e) }},
		{"unlink", "/d/f", func(f *fsys) { f.cacheRemove("/d/f", false) }},
		{"directory removed", "/d/f", func(f *fsys) { f.cacheRemove("/d", true) }},
		{"directory renamed", "/d/f", func(f *fsys) {
			f.renamed("/d", "/e", conn.Entry{Name: "e", Type: conn.TypeDir})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFsys(&fakeRemote{}, Options{RemoteRoot: "/", ContentCacheDir: t.TempDir(), ContentCacheMax: 1 << 20,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			f.openContentCache()
			if f.cc == nil {
				t.Fatal(f.ccNote)
			}
			defer f.closeContentCache()
			f.cacheStore(tc.path, e, []byte("hello"), 0)
			if !f.cachedWhole(tc.path, e) {
				t.Fatal("not cached")
			}
			tc.change(f)
			if f.cachedWhole(tc.path, e) {
				t.Error("still cached after ftpfs's own change")
			}
		})
	}
}

// TestCacheVersion: which entries the content cache keeps.
func TestCacheVersion(t *testing.T) {
	clock := newTestClock()
	f := newFsys(&fakeRemote{}, Options{ContentCacheDir: t.TempDir(), ContentCacheMax: 1000, clock: clock.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.openContentCache()
	defer f.closeContentCache()
	now := clock.now()
	cases := []struct {
		name string
		e    conn.Entry
		want bool
	}{
		{"exact time", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now, HasTime: true}, true},
		{"no time", conn.Entry{Type: conn.TypeFile, Size: 10}, false},
		{"a directory", conn.Entry{Type: conn.TypeDir, Size: 10, ModTime: now, HasTime: true}, false},
		{"above half the budget", conn.Entry{Type: conn.TypeFile, Size: 501, ModTime: now, HasTime: true}, false},
		{"minute grain, this minute", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now.Truncate(time.Minute), HasTime: true, TimeGrain: time.Minute}, false},
		{"minute grain, an hour ago", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now.Add(-time.Hour), HasTime: true, TimeGrain: time.Minute}, false},
		{"minute grain, two days ago", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now.Add(-48 * time.Hour), HasTime: true, TimeGrain: time.Minute}, true},
		{"day grain, yesterday", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now.Add(-24 * time.Hour).Truncate(24 * time.Hour), HasTime: true, TimeGrain: 24 * time.Hour}, false},
		{"day grain, a year ago", conn.Entry{Type: conn.TypeFile, Size: 10, ModTime: now.Add(-365 * 24 * time.Hour), HasTime: true, TimeGrain: 24 * time.Hour}, true},
	}
	for _, tc := range cases {
		if _, got := f.cacheVersion(tc.e); got != tc.want {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
}
