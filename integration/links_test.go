package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDirLinkCount checks a directory's link count: 2 plus its
// subdirectories once its listing is known (`ls`), as on a local
// filesystem; 1 before; and it follows mkdir and rmdir at once.
func TestDirLinkCount(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range answerKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			for _, sub := range []string{"d/a", "d/b", "d/c", "other/x"} {
				must(t, os.MkdirAll(filepath.Join(root, sub), 0o755))
			}
			must(t, os.WriteFile(filepath.Join(root, "d", "file"), []byte("f\n"), 0o644))
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			links := func(p string) string {
				return strings.TrimSpace(Run(t, 10*time.Second, "stat", "-c", "%h", p))
			}
			if got := links(filepath.Join(m.Dir, "other")); got != "1" {
				t.Errorf("link count of a directory not listed yet: %s, want 1", got)
			}
			d := filepath.Join(m.Dir, "d")
			Run(t, 10*time.Second, "ls", d)
			if got := links(d); got != "5" {
				t.Errorf("link count of a directory with 3 subdirectories after ls: %s, want 5", got)
			}
			must(t, os.Mkdir(filepath.Join(d, "e"), 0o755))
			if got := links(d); got != "6" {
				t.Errorf("after mkdir: %s, want 6", got)
			}
			must(t, os.Remove(filepath.Join(d, "a")))
			if got := links(d); got != "5" {
				t.Errorf("after rmdir: %s, want 5", got)
			}
			if got := links(filepath.Join(d, "e")); got != "2" {
				t.Errorf("a directory just made: %s, want 2", got)
			}
			var out bytes.Buffer
			cmd := exec.Command("find", d, "-type", "d")
			cmd.Stdout = &out
			must(t, cmd.Run())
			if n := strings.Count(out.String(), "\n"); n != 4 {
				t.Errorf("find -type d lists %d directories, want 4:\n%s", n, out.String())
			}
		})
	}
}
