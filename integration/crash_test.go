package integration

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritebackCrash kills ftpfs with SIGKILL at seeded random moments
// during a writeback `tar -x` (while tar runs, or while the journal is
// still uploading after it), then lets a new mount resume the journal.
// Where tar had finished, the server's tree must equal the archive:
// contents, modes and file times, nothing missing, nothing extra. Where
// tar was cut short, every file the server holds must be whole. Either
// way no temporary upload may be left. Every fourth seed unpacks an
// archive whose directories are read-only, killed after tar has finished.
func TestWritebackCrash(t *testing.T) {
	RequireFUSE(t)
	srcs := map[bool]string{false: crashTree(t, false), true: crashTree(t, true)}
	archives := map[bool]string{}
	for ro, src := range srcs {
		archives[ro] = filepath.Join(tempDir(t), "a.tar")
		Run(t, time.Minute, "tar", "-cf", archives[ro], "-C", src, "d0", "d1", "d2")
	}
	root := tempDir(t)
	srv := StartServer(t, KindPureFTPd, root)
	proxy, via := ProxyServer(t, srv)
	for seed := int64(1); seed <= 10; seed++ {
		ro := seed%4 == 0
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			cacheDir := tempDir(t)
			dir := fmt.Sprintf("s%d", seed)
			proxy.Stall(15 * time.Millisecond)
			m := MountServer(t, via, "writeback", "cache_dir="+cacheDir)
			must(t, os.Mkdir(filepath.Join(m.Dir, dir), 0o755))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tar := exec.CommandContext(ctx, "tar", "-xf", archives[ro], "-C", filepath.Join(m.Dir, dir))
			var tarOut strings.Builder
			tar.Stderr = &tarOut
			start := time.Now()
			must(t, tar.Start())
			tarDone := make(chan error, 1)
			go func() { tarDone <- tar.Wait() }()
			var tarErr error
			finished := false
			if ro {
				tarErr, finished = <-tarDone, true
				time.Sleep(time.Duration(rng.Int63n(int64(time.Second))))
			} else {
				select {
				case tarErr = <-tarDone:
					finished = true
					time.Sleep(time.Duration(rng.Int63n(int64(500 * time.Millisecond))))
				case <-time.After(time.Duration(rng.Int63n(int64(1500 * time.Millisecond)))):
				}
			}
			m.Kill(t)
			if !finished {
				tarErr = <-tarDone
				finished = tarErr == nil
			}
			if finished && tarErr != nil {
				t.Fatalf("tar: %v\n%s\n%s", tarErr, tarOut.String(), tail(m.Log(), 30))
			}
			t.Logf("tar ran %v", time.Since(start))
			proxy.Stall(0)
			m2 := MountServer(t, via, "cache_dir="+cacheDir)
			m2.Unmount(t) // waits for the resumed journal to drain
			t.Logf("tar finished before the kill: %v", finished)
			checkCrashTree(t, srcs[ro], filepath.Join(root, dir), finished)
			if kept, _ := os.ReadDir(filepath.Join(cacheDir, "unsaved")); finished && len(kept) > 0 {
				t.Errorf("%d files kept in unsaved/", len(kept))
			}
			if strings.Contains(m2.Log(), "level=ERROR") {
				t.Errorf("the resuming mount logged errors:\n%s", m2.Log())
			}
		})
	}
}

// crashTree makes the tree the crash test unpacks: 60 files of up to
// 180 KiB in six directories, with modes and times of their own.
func crashTree(t *testing.T, readOnlyDirs bool) string {
	src := tempDir(t)
	when := time.Date(2018, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := 0; i < 60; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("e%d", i%2), fmt.Sprintf("f%02d", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		write(t, p, randomBytes(uint64(900+i), (i*7919)%(180<<10)))
		must(t, os.Chmod(p, []os.FileMode{0o644, 0o600, 0o755, 0o640}[i%4]))
		must(t, os.Chtimes(p, when, when.Add(time.Duration(i)*time.Hour)))
	}
	if readOnlyDirs {
		var dirs []string
		must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != src {
				dirs = append(dirs, p)
			}
			return err
		}))
		for _, d := range dirs {
			must(t, os.Chmod(d, 0o555))
		}
	}
	return src
}

// checkCrashTree compares the server's copy got with the source tree:
// equal if tar finished, else each file present must be whole.
func checkCrashTree(t *testing.T, src, got string, finished bool) {
	t.Helper()
	must(t, filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		if strings.HasSuffix(d.Name(), ".ftpfs-part") {
			t.Errorf("temporary upload left on the server: %s", rel)
			return nil
		}
		si, serr := os.Stat(filepath.Join(src, rel))
		if serr != nil {
			t.Errorf("%s on the server is not in the archive", rel)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		want, _ := os.ReadFile(filepath.Join(src, rel))
		have, _ := os.ReadFile(p)
		if string(want) != string(have) {
			t.Errorf("%s on the server: %d bytes, not the archive's %d", rel, len(have), len(want))
		}
		di, _ := d.Info()
		if finished && (di.Mode().Perm() != si.Mode().Perm() || !di.ModTime().Equal(si.ModTime())) {
			t.Errorf("%s on the server: %v %v, archive %v %v", rel, di.Mode().Perm(), di.ModTime(), si.Mode().Perm(), si.ModTime())
		}
		return nil
	}))
	if !finished {
		return
	}
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		di, derr := os.Stat(filepath.Join(got, rel))
		if derr != nil {
			t.Errorf("%s missing on the server", rel)
			return nil
		}
		si, _ := d.Info()
		if d.IsDir() && di.Mode().Perm() != si.Mode().Perm() {
			t.Errorf("directory %s on the server: %v, archive %v", rel, di.Mode().Perm(), si.Mode().Perm())
		}
		return nil
	}))
}
