package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataAhead: on servers that take a data connection opened ahead
// (vsftpd, pure-ftpd, proftpd), each upload but the first of a session
// asks for the next data port in the flight after it, so that files
// copied one after another start with their STOR; the files arrive
// whole. With -o disable_data_ahead, and on the in-process server (not
// one of those), every transfer opens its own.
func TestDataAhead(t *testing.T) {
	RequireFUSE(t)
	const files = 12
	for _, c := range []struct {
		kind string
		opt  string
		want bool // most uploads use a connection opened ahead
	}{
		{KindVsftpd, "", true},
		{KindPureFTPd, "", true},
		{KindProFTPd, "", true},
		{KindPureFTPd, "disable_data_ahead", false},
		{KindInProcess, "", false},
	} {
		t.Run(c.kind+"/"+c.opt, func(t *testing.T) {
			root := t.TempDir()
			srv := StartKind(t, c.kind, root)
			opts := []string{"debug"}
			if c.opt != "" {
				opts = append(opts, c.opt)
			}
			m := MountServer(t, srv, opts...)
			want := map[string][]byte{}
			for i := range files {
				name := fmt.Sprintf("f%02d", i)
				data := bytes.Repeat([]byte(name+"\n"), 100*(i+1))
				want[name] = data
				must(t, os.WriteFile(filepath.Join(m.Dir, name), data, 0o644))
			}
			for name, data := range want {
				mustEqualFile(t, filepath.Join(root, name), data)
			}
			// And a read and a listing after the uploads take them too.
			got, err := os.ReadFile(filepath.Join(m.Dir, "f03"))
			must(t, err)
			if !bytes.Equal(got, want["f03"]) {
				t.Errorf("f03 read back differs")
			}
			log := m.Log()
			n := strings.Count(log, `msg="data connection opened ahead"`)
			switch {
			case c.want && n < files-2:
				t.Errorf("%d of %d uploads used a data connection opened ahead, want at least %d\n%s", n, files, files-2, tail(log, 60))
			case !c.want && n != 0:
				t.Errorf("%d transfers used a data connection opened ahead, want none", n)
			}
			if strings.Contains(log, "data connections opened ahead of the transfer") {
				t.Errorf("the server was found to refuse data connections opened ahead:\n%s", tail(log, 40))
			}
		})
	}
}
