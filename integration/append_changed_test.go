package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAppendToFileChangedOnServer appends (`>>`) to a file that was
// removed or rewritten shorter on the server since the mount listed it:
// the server ends with its own file plus the appended bytes, or the
// append fails; never with the appended bytes spliced into another
// file, as when a size check after the APPE was taken for a transfer cut
// short and "resumed" ("app\np\n" from "y\n" + "app\n").
func TestAppendToFileChangedOnServer(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd, KindPureFTPd} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv)
			cases := []struct {
				name     string
				onServer func(p string) // what happens on the server after the mount saw "y\n"
				want     []string       // what the server may hold after the append
			}{
				{"removed", func(p string) { must(t, os.Remove(p)) }, []string{"app\n"}},
				{"rewritten shorter", func(p string) { must(t, os.WriteFile(p, []byte("z"), 0o644)) }, []string{"zapp\n"}},
			}
			for _, c := range cases {
				p := filepath.Join(m.Dir, c.name)
				write(t, p, []byte("y\n"))
				// A reader holds the file open across the append: its
				// close, after the append's, must not send the bytes
				// again.
				reader, oerr := os.Open(p)
				must(t, oerr)
				c.onServer(filepath.Join(root, c.name))
				err := exec.Command("sh", "-c", "printf 'app\\n' >> \""+p+"\"").Run()
				_ = reader.Close() // it shares the failed content, and may report it
				got, rerr := os.ReadFile(filepath.Join(root, c.name))
				must(t, rerr)
				ok := false
				for _, w := range c.want {
					ok = ok || bytes.Equal(got, []byte(w))
				}
				if !ok {
					t.Errorf("%s: after the append (err %v) the server holds %q; want one of %q", c.name, err, got, c.want)
				}
				if !eventually(func() bool { b, err := os.ReadFile(p); return err == nil && bytes.Equal(b, got) }) {
					b, err := os.ReadFile(p)
					t.Errorf("%s: the mount shows %q, %v; the server holds %q", c.name, b, err, got)
				}
			}
		})
	}
}
