package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Tree layout served by the read tests.
const (
	BigDir      = "big"        // a directory of BigDirFiles small files
	BigDirFiles = 2000         // entries in BigDir
	RandomFile  = "random.bin" // RandomSize bytes of seeded random data
	RandomSize  = 32 << 20
	EmptyFile   = "empty"
)

// OddNames are file names that trip up parsers and shells: spaces, quotes,
// glob and listing syntax, unicode, and bytes that are not UTF-8.
var OddNames = []string{
	"with space",
	"two  spaces and trailing space ",
	`double"quote`,
	"single'quote",
	"semi;colon=equals",
	"[brackets]*?",
	"-leading-dash",
	"a -> b",
	"ünïcödé ☃ 日本語",
	"latin1-\xe9\xe8",
	"#hash",
	"100%",
	".hidden",
}

// MakeTree fills root with the served test tree: nested directories, a big
// directory, a large random file, an empty file, odd names and symlinks.
// It returns the random file's contents for comparisons.
func MakeTree(t testing.TB, root string) []byte {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, RandomSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	must(os.WriteFile(filepath.Join(root, RandomFile), data, 0o644))
	must(os.WriteFile(filepath.Join(root, EmptyFile), nil, 0o644))
	nested := filepath.Join(root, "a", "b", "c", "d")
	must(os.MkdirAll(nested, 0o755))
	for i, dir := range []string{"a", "a/b", "a/b/c", "a/b/c/d"} {
		p := filepath.Join(root, dir, fmt.Sprintf("level%d.txt", i))
		must(os.WriteFile(p, []byte(fmt.Sprintf("file at depth %d\n", i)), 0o644))
	}
	must(os.Mkdir(filepath.Join(root, BigDir), 0o755))
	for i := 0; i < BigDirFiles; i++ {
		p := filepath.Join(root, BigDir, fmt.Sprintf("file-%04d.txt", i))
		must(os.WriteFile(p, []byte(fmt.Sprintf("%d\n", i)), 0o644))
	}
	odd := filepath.Join(root, "odd")
	must(os.Mkdir(odd, 0o755))
	for _, n := range OddNames {
		must(os.WriteFile(filepath.Join(odd, n), []byte(n+"\n"), 0o644))
	}
	must(os.Mkdir(filepath.Join(odd, "dir with space"), 0o755))
	must(os.WriteFile(filepath.Join(odd, "dir with space", "inner file"), []byte("inner\n"), 0o644))
	must(os.Symlink(RandomFile, filepath.Join(root, "link-to-random")))
	must(os.Symlink("a/b", filepath.Join(root, "link-to-dir")))
	old := time.Date(2020, 2, 3, 4, 5, 0, 0, time.UTC)
	must(os.Chtimes(filepath.Join(root, "a", "level0.txt"), old, old))
	return data
}
