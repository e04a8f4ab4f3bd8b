package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestDataAheadFewPorts: vsftpd with two passive ports for several
// sessions answers the EPSV that ends an upload's flight with "500 OOPS:
// vsf_sysutil_bind" and ends the session. The upload before it had
// succeeded (its SIZE and rename were answered first): close must not
// fail, and the mount stops opening connections ahead.
func TestDataAheadFewPorts(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindVsftpd, root, WithPasvPorts(2))
	m := MountServer(t, srv, "debug")
	const writers, files = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*files)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := filepath.Join(m.Dir, fmt.Sprintf("w%d", w))
			if err := os.Mkdir(dir, 0o755); err != nil {
				errs <- err
				return
			}
			for i := range files {
				data := bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1))
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), data, 0o644); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writing through the mount: %v", err)
	}
	for w := range writers {
		for i := range files {
			mustEqualFile(t, filepath.Join(root, fmt.Sprintf("w%d", w), fmt.Sprintf("f%02d", i)),
				bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1)))
		}
	}
	if t.Failed() {
		t.Log(tail(m.Log(), 60))
	}
}
