package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServer starts each kind of real server and checks, with curl, that it lists a plain file and a
// dot file, serves a download and takes an upload that lands in Root, owned by the login user.
func TestServer(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	for _, kind := range ServerKinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()

			root := t.TempDir()
			hello := []byte("hello from " + kind + "\n")
			writeFile(t, filepath.Join(root, "hello.txt"), hello)
			writeFile(t, filepath.Join(root, ".hidden"), []byte("dot\n"))
			s := StartServer(t, kind, root)

			listing := runCurl(ctx, t, curl, s.URL("/"))
			names := listedNames(listing)
			for _, want := range []string{"hello.txt", ".hidden"} {
				if want == ".hidden" && kind == KindProFTPdDefault {
					continue // a bare LIST hides dot files without ListOptions "-a"; its MLSD shows them
				}
				if !names[want] {
					t.Errorf("listing of / lacks %q:\n%s", want, listing)
				}
			}

			if got := runCurl(ctx, t, curl, s.URL("hello.txt")); !bytes.Equal(got, hello) {
				t.Errorf("download of hello.txt = %q, want %q", got, hello)
			}

			upload := bytes.Repeat([]byte("upload "+kind+"\n"), 10000)
			local := filepath.Join(t.TempDir(), "upload.bin")
			writeFile(t, local, upload)
			runCurl(ctx, t, curl, "-T", local, s.URL("sub dir/uploaded.bin"), "--ftp-create-dirs")
			onDisk := filepath.Join(root, "sub dir", "uploaded.bin")
			got, err := os.ReadFile(onDisk)
			if err != nil {
				t.Fatalf("upload did not reach root: %v", err)
			}
			if !bytes.Equal(got, upload) {
				t.Fatalf("uploaded file has %d bytes, want %d (same content: false)", len(got), len(upload))
			}
			checkOwner(t, onDisk, s.User)
		})
	}
}

// TestServerMaxSessions checks that WithMaxSessions(2) lets two sessions log in and refuses a third.
func TestServerMaxSessions(t *testing.T) {
	for _, kind := range ServerKinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := StartServer(t, kind, t.TempDir(), WithMaxSessions(2))
			deadline := time.Now().Add(30 * time.Second)
			var open []net.Conn
			defer func() {
				for _, c := range open {
					c.Close()
				}
			}()
			// The start-up probe's session may take a moment to be counted out: retry the first two.
			for len(open) < 2 {
				c, err := ftpLogin(s, deadline)
				if err == nil {
					open = append(open, c)
					continue
				}
				if time.Now().After(deadline) {
					t.Fatalf("session %d: %v", len(open)+1, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			c, err := ftpLogin(s, deadline)
			if err == nil {
				c.Close()
				t.Fatal("third session logged in; want it refused")
			}
			t.Logf("third session refused: %v", err)
		})
	}
}

// ftpLogin opens a control connection to s and logs in; the connection is returned open.
func ftpLogin(s *Server, deadline time.Time) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if deadline.Before(time.Now().Add(10 * time.Second)) {
		c.SetDeadline(deadline)
	}
	tc := textproto.NewConn(c)
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	if _, _, err := tc.ReadResponse(220); err != nil {
		return fail(fmt.Errorf("greeting: %w", err))
	}
	if err := tc.PrintfLine("USER %s", s.User); err != nil {
		return fail(err)
	}
	code, msg, err := tc.ReadResponse(0)
	if err != nil {
		return fail(fmt.Errorf("USER: %w", err))
	}
	if code == 331 {
		if err := tc.PrintfLine("PASS %s", s.Password); err != nil {
			return fail(err)
		}
		code, msg, err = tc.ReadResponse(0)
		if err != nil {
			return fail(fmt.Errorf("PASS: %w", err))
		}
	}
	if code != 230 {
		return fail(fmt.Errorf("login: %d %s", code, msg))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// runCurl runs curl with a bounded time and returns its standard output; it fails the test if curl
// fails.
func runCurl(ctx context.Context, t *testing.T, curl string, args ...string) []byte {
	t.Helper()
	args = append([]string{"-sS", "--max-time", "20"}, args...)
	cmd := exec.CommandContext(ctx, curl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// listedNames returns the names in a LIST listing (Unix "ls -l" lines: the name follows 8 fields).
func listedNames(listing []byte) map[string]bool {
	names := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(listing))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		rest := line
		for range 8 {
			rest = strings.TrimLeft(rest, " ")
			i := strings.IndexByte(rest, ' ')
			if i < 0 {
				rest = ""
				break
			}
			rest = rest[i:]
		}
		if name := strings.TrimPrefix(rest, " "); name != "" {
			name, _, _ = strings.Cut(name, " -> ")
			names[name] = true
		}
	}
	return names
}

// checkOwner fails the test unless path belongs to the system user login.
func checkOwner(t *testing.T, path, login string) {
	t.Helper()
	u, err := user.Lookup(login)
	if err != nil {
		t.Fatalf("looking up %s: %v", login, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if strconv.FormatUint(uint64(st.Uid), 10) != u.Uid {
		t.Errorf("%s belongs to uid %d, want %s (%s)", path, st.Uid, u.Uid, login)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
