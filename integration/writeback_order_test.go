package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritebackOrder checks that -o writeback ends the server in the state
// the synchronous mode would, for the two patterns that showed operations
// overtaking queued uploads: a tar archive whose directories are
// read-only (tar's chmod 0555 of a directory must reach the server after
// the uploads into it), and rsync's temporary file (written, closed, given
// its mode and time, then renamed over the real name: the mode, the time
// and the rename must follow the upload).
func TestWritebackOrder(t *testing.T) {
	RequireFUSE(t)
	src := filepath.Join(tempDir(t), "t")
	for _, d := range []string{"d", "d/e"} {
		must(t, os.MkdirAll(filepath.Join(src, d), 0o755))
		for i := 0; i < 30; i++ {
			write(t, filepath.Join(src, d, fmt.Sprintf("f%d", i)), randomBytes(uint64(i), 50+i*300))
		}
	}
	write(t, filepath.Join(src, "d", "e", "big"), randomBytes(99, 3<<20))
	dirTime := time.Date(2019, 9, 9, 9, 9, 9, 0, time.UTC)
	for _, d := range []string{"d/e", "d", ""} {
		must(t, os.Chtimes(filepath.Join(src, d), dirTime, dirTime))
	}
	must(t, os.Chmod(filepath.Join(src, "d", "e"), 0o555))
	must(t, os.Chmod(filepath.Join(src, "d"), 0o555))
	archive := filepath.Join(tempDir(t), "ro.tar")
	Run(t, time.Minute, "tar", "-cf", archive, "-C", filepath.Dir(src), "t")
	when := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)

	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := tempDir(t)
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "writeback")
			Run(t, 2*time.Minute, "tar", "-xf", archive, "-C", m.Dir)

			// rsync's pattern, with files large enough that some uploads
			// have started when the rename comes.
			must(t, os.Mkdir(filepath.Join(m.Dir, "r"), 0o755))
			want := map[string][]byte{}
			for i := 0; i < 12; i++ {
				name := fmt.Sprintf("r/f%02d", i)
				data := randomBytes(uint64(200+i), 1000+i*(300<<10))
				tmp := filepath.Join(m.Dir, "r", fmt.Sprintf(".f%02d.Xy3q9", i))
				write(t, tmp, data)
				must(t, os.Chmod(tmp, 0o640))
				must(t, os.Chtimes(tmp, when, when))
				must(t, os.Rename(tmp, filepath.Join(m.Dir, name)))
				want[name] = data
			}
			m.Unmount(t)

			Run(t, time.Minute, "diff", "-r", src, filepath.Join(root, "t"))
			must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(filepath.Dir(src), p)
				si, _ := d.Info()
				di, err := os.Stat(filepath.Join(root, rel))
				if err != nil {
					return err
				}
				if si.Mode().Perm() != di.Mode().Perm() {
					t.Errorf("%s: mode %v on the server, %v in the archive", rel, di.Mode().Perm(), si.Mode().Perm())
				}
				// tar sets a directory's time after its files: a later upload
				// into it must not change it (vsftpd and pyftpdlib set no
				// directory times).
				if d.IsDir() && kind != KindVsftpd && kind != KindPyftpdlib && !di.ModTime().Equal(si.ModTime()) {
					t.Errorf("%s: time %v on the server, %v in the archive", rel, di.ModTime(), si.ModTime())
				}
				return nil
			}))
			for name, data := range want {
				p := filepath.Join(root, name)
				mustEqualFile(t, p, data)
				fi, err := os.Stat(p)
				must(t, err)
				if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(when) {
					t.Errorf("%s on the server: mode %v, time %v; want 0640, %v", name, fi.Mode().Perm(), fi.ModTime(), when)
				}
			}
			ents, _ := os.ReadDir(filepath.Join(root, "r"))
			if len(ents) != len(want) {
				t.Errorf("server's r/ holds %d names, want %d (temporary names left?)", len(ents), len(want))
			}
			if unsaved, _ := os.ReadDir(filepath.Join(m.CacheDir, "unsaved")); len(unsaved) > 0 {
				t.Errorf("%d files kept in unsaved/", len(unsaved))
			}
			if log := m.Log(); strings.Contains(log, "failed") || strings.Contains(log, "could not") {
				t.Errorf("ftpfs logged failures:\n%s", log)
			}
		})
	}
}

// TestRsyncDirectoryTimes copies a tree with rsync -a, which sets each
// directory's time when it makes it and again at the end where it
// differs: uploads into a directory change its time on the server, so the
// time shown must move too, or rsync leaves the server's directories with
// the times of their last upload. After a remount an unchanged rsync must
// find nothing to do.
func TestRsyncDirectoryTimes(t *testing.T) {
	RequireFUSE(t)
	src := filepath.Join(tempDir(t), "src")
	for i := 0; i < 24; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("e%d", i%2), fmt.Sprintf("f%02d", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		write(t, p, randomBytes(uint64(500+i), 200+i*50))
	}
	old := time.Date(2017, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			err = os.Chtimes(p, old, old)
		}
		return err
	}))
	for _, kind := range []string{KindPureFTPd, KindInProcess} {
		for _, mode := range []string{"default", "writeback"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				root := tempDir(t)
				srv := StartKind(t, kind, root)
				var opts []string
				if mode == "writeback" {
					opts = append(opts, "writeback")
				}
				m := MountServer(t, srv, opts...)
				Run(t, 2*time.Minute, "rsync", "-a", src+"/", filepath.Join(m.Dir, "dst")+"/")
				m.Unmount(t)
				must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
					if err != nil || !d.IsDir() {
						return err
					}
					rel, _ := filepath.Rel(src, p)
					di, err := os.Stat(filepath.Join(root, "dst", rel))
					if err != nil {
						return err
					}
					if !di.ModTime().Equal(old) {
						t.Errorf("directory %s on the server: time %v, want %v", rel, di.ModTime(), old)
					}
					return nil
				}))
				m2 := MountServer(t, srv, opts...)
				out := Run(t, time.Minute, "rsync", "-a", "-i", "-n", src+"/", filepath.Join(m2.Dir, "dst")+"/")
				if strings.TrimSpace(out) != "" {
					t.Errorf("an unchanged rsync after a remount would change:\n%s", out)
				}
			})
		}
	}
}
