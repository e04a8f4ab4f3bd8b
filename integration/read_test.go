package integration

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AllKinds are the servers every suite runs against.
func AllKinds() []string {
	return append([]string{KindInProcess, KindInProcessLIST}, ServerKinds()...)
}

// StartKind starts a server of any kind, in-process or real, serving root.
func StartKind(t testing.TB, kind, root string) *Server {
	t.Helper()
	switch kind {
	case KindInProcess, KindInProcessLIST:
		return StartInProcess(t, kind, root)
	}
	return StartServer(t, kind, root)
}

// readEnv is one served tree, its server and a debug mount of it.
type readEnv struct {
	root   string // the served directory on disk
	random []byte
	srv    *Server
	m      *Mount
}

// TestRead runs the read-path suite against every server kind.
func TestRead(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			random := MakeTree(t, root)
			srv := StartKind(t, kind, root)
			env := &readEnv{root: root, random: random, srv: srv, m: MountServer(t, srv, "debug")}
			for _, c := range readCases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, env) })
			}
		})
	}
}

var readCases = []struct {
	name string
	fn   func(t *testing.T, env *readEnv)
}{
	{"DiffTree", testDiffTree},
	{"OddNames", testOddNames},
	{"BigDirOneListing", testBigDirOneListing},
	{"RandomReads", testRandomReads},
	{"ParallelReads", testParallelReads},
	{"Attributes", testAttributes},
	{"Symlinks", testSymlinks},
	{"Errors", testReadErrors},
	{"StableInodes", testStableInodes},
	{"ReadAheadSmallFiles", testReadAheadSmallFiles},
	{"ContentCache", testContentCache},
}

// testDiffTree compares the whole served tree with the mount, as a user
// would: diff -r reads every file and follows symlinks on both sides.
func testDiffTree(t *testing.T, env *readEnv) {
	Run(t, 2*time.Minute, "diff", "-r", env.root, env.m.Dir)
}

func testOddNames(t *testing.T, env *readEnv) {
	want := dirNames(t, filepath.Join(env.root, "odd"))
	got := dirNames(t, filepath.Join(env.m.Dir, "odd"))
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("names differ:\n got %q\nwant %q", got, want)
	}
	for _, n := range OddNames {
		b, err := os.ReadFile(filepath.Join(env.m.Dir, "odd", n))
		if err != nil || string(b) != n+"\n" {
			t.Errorf("read %q: %q, %v", n, b, err)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// listingCmd matches a listing command in the -o debug transcript.
var listingCmd = regexp.MustCompile(`cmd="?(MLSD|LIST)`)

// testBigDirOneListing checks that a cold `ls -l` of a 2,000-entry
// directory costs one listing command: lookups are answered from the
// listing. It uses a mount of its own, whose cache is empty.
func testBigDirOneListing(t *testing.T, env *readEnv) {
	m := MountServer(t, env.srv, "debug")
	big := filepath.Join(m.Dir, BigDir)
	if _, err := os.Stat(big); err != nil {
		t.Fatal(err)
	}
	before := len(m.Log())
	out := Run(t, time.Minute, "ls", "-l", big)
	lines := strings.Count(out, "\n") - 1 // "total N"
	if lines != BigDirFiles {
		t.Fatalf("ls -l shows %d entries, want %d", lines, BigDirFiles)
	}
	log := m.Log()[before:]
	if n := len(listingCmd.FindAllString(log, -1)); n != 1 {
		t.Fatalf("ls -l sent %d listing commands, want 1; transcript:\n%s", n, tail(log, 40))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// testRandomReads reads at random offsets and lengths and compares bytes.
func testRandomReads(t *testing.T, env *readEnv) {
	f, err := os.Open(filepath.Join(env.m.Dir, RandomFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		off := rng.Int64N(RandomSize)
		n := 1 + rng.IntN(300<<10)
		buf := make([]byte, n)
		got, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
		}
		want := env.random[off:min(off+int64(n), RandomSize)]
		if !bytes.Equal(buf[:got], want) {
			t.Fatalf("ReadAt(%d, %d): %d bytes differ from the file", off, n, got)
		}
	}
}

// testParallelReads reads one file from several processes' worth of
// handles at once, each front to back, and compares.
func testParallelReads(t *testing.T, env *readEnv) {
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := os.ReadFile(filepath.Join(env.m.Dir, RandomFile))
			if err == nil && !bytes.Equal(b, env.random) {
				err = errors.New("contents differ")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// testAttributes compares type, size and modification time with the disk.
// LIST gives minutes (and only days for old files), MLSD seconds.
func testAttributes(t *testing.T, env *readEnv) {
	for _, rel := range []string{RandomFile, EmptyFile, "a", "a/level0.txt", "a/b/c/d/level3.txt", BigDir + "/file-0007.txt"} {
		want, err := os.Stat(filepath.Join(env.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.Stat(filepath.Join(env.m.Dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if got.IsDir() != want.IsDir() || (!want.IsDir() && got.Size() != want.Size()) {
			t.Errorf("%s: dir=%v size=%d, want dir=%v size=%d", rel, got.IsDir(), got.Size(), want.IsDir(), want.Size())
		}
		if d := got.ModTime().Sub(want.ModTime()).Abs(); !want.IsDir() && d > 24*time.Hour {
			t.Errorf("%s: mtime %v, want %v", rel, got.ModTime(), want.ModTime())
		}
		// A directory: 1 until ftpfs holds its listing, then 2 plus its
		// subdirectories.
		if st, want := got.Sys().(*syscall.Stat_t), dirLinks(t, filepath.Join(env.root, rel)); st.Nlink != 1 && st.Nlink != want {
			t.Errorf("%s: nlink %d, want 1 or %d", rel, st.Nlink, want)
		}
	}
}

// dirLinks returns the link count a local filesystem gives path: 1 for a
// file, 2 plus its subdirectories for a directory.
func dirLinks(t *testing.T, path string) uint64 {
	ents, err := os.ReadDir(path)
	if err != nil {
		return 1
	}
	n := uint64(2)
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// testSymlinks: a server that shows symlinks gives them with their target;
// one that follows them shows the target's contents. Either way reading
// through the link gives the target's bytes.
func testSymlinks(t *testing.T, env *readEnv) {
	link := filepath.Join(env.m.Dir, "link-to-random")
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(link)
		if err != nil || target != RandomFile {
			t.Errorf("readlink: %q, %v; want %q", target, err, RandomFile)
		}
	}
	b, err := os.ReadFile(link)
	if err != nil || !bytes.Equal(b, env.random) {
		t.Errorf("read through link: %d bytes, %v", len(b), err)
	}
	if _, err := os.Stat(filepath.Join(env.m.Dir, "link-to-dir", "level1.txt")); err != nil {
		t.Errorf("stat through dir link: %v", err)
	}
}

func testReadErrors(t *testing.T, env *readEnv) {
	_, err := os.Stat(filepath.Join(env.m.Dir, "no-such-file"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing file: %v, want ENOENT", err)
	}
	_, err = os.Open(filepath.Join(env.m.Dir, "no-such-dir", "x"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open below a missing dir: %v, want ENOENT", err)
	}
	_, err = os.ReadDir(filepath.Join(env.m.Dir, RandomFile))
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("readdir of a file: %v, want ENOTDIR", err)
	}
}

func testStableInodes(t *testing.T, env *readEnv) {
	ino := func(rel string) uint64 {
		fi, err := os.Lstat(filepath.Join(env.m.Dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	a, b := ino(RandomFile), ino(EmptyFile)
	if a == b {
		t.Errorf("two files share inode %d", a)
	}
	if again := ino(RandomFile); again != a {
		t.Errorf("inode of %s changed from %d to %d", RandomFile, a, again)
	}
}
