package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// soakDuration is how long TestSoak runs: a minute in CI, longer with
// FTPFS_SOAK=10m.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("FTPFS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FTPFS_SOAK: %v", err)
		}
		return d
	}
	return time.Minute
}

var goroutinesRe = regexp.MustCompile(`msg=status goroutines=(\d+)`)

// goroutines asks ftpfs for its status (SIGUSR1) and returns its
// goroutine count.
func goroutines(t *testing.T, m *Mount) int {
	t.Helper()
	before := len(goroutinesRe.FindAllString(m.Log(), -1))
	must(t, m.cmd.Process.Signal(syscall.SIGUSR1))
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := goroutinesRe.FindAllStringSubmatch(m.Log(), -1)
		if len(all) > before {
			n, _ := strconv.Atoi(all[len(all)-1][1])
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("no status from ftpfs")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openFds(t *testing.T, m *Mount) int {
	t.Helper()
	return len(fdTargets(m))
}

// TestSoak runs readers, writers, renamers and listers in parallel on a
// real server for a while, checking every byte, and then that ftpfs's
// goroutines and open files went back to what they were.
func TestSoak(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	shared := randomBytes(41, 2<<20)
	write(t, filepath.Join(root, "shared.bin"), shared)
	srv := StartServer(t, KindPureFTPd, root)
	m := MountServer(t, srv)
	if _, err := os.ReadFile(filepath.Join(m.Dir, "shared.bin")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // let the warm-up's stream go idle and close
	baseG, baseFd := goroutines(t, m), openFds(t, m)

	stop := time.Now().Add(soakDuration(t))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakWriter(m.Dir, w, stop, fail)
		}()
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				b, err := os.ReadFile(filepath.Join(m.Dir, "shared.bin"))
				if err != nil || !bytes.Equal(b, shared) {
					fail(fmt.Errorf("reader: %d bytes, %v", len(b), err))
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(stop) {
			if _, err := os.ReadDir(m.Dir); err != nil {
				fail(fmt.Errorf("lister: %v", err))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	time.Sleep(7 * time.Second) // streams idle out after 5 s
	if g := goroutines(t, m); g > baseG+2 {
		t.Errorf("goroutines: %d before, %d after", baseG, g)
	}
	// Idle sessions may stay open (closed after 60 s idle), and go-fuse
	// keeps splice pipes: what must not stay is a spill file or a TCP
	// socket beyond the pool's control connections (the Unix socket of
	// `ftpfs status` is not one).
	sockets, files := 0, 0
	tcp := tcpInodes(m)
	for _, target := range fdTargets(m) {
		switch {
		case strings.HasPrefix(target, "socket:[") && tcp[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")]:
			sockets++
		case strings.HasPrefix(target, m.CacheDir) && !strings.HasPrefix(target, filepath.Join(m.CacheDir, "content")):
			// The content cache's lock file stays open for the mount's life.
			files++
		}
	}
	if sockets > 8 || files > 0 { // the default of connections=
		t.Errorf("after the soak (%d fds before): %d sockets, %d spill files open: %v", baseFd, sockets, files, fdTargets(m))
	}
}

// soakWriter writes files, checks them through the mount and on the
// server's disk, renames them, and removes them.
func soakWriter(mnt string, id int, stop time.Time, fail func(error)) {
	rng := rand.New(rand.NewPCG(uint64(id), 99))
	for n := 0; time.Now().Before(stop); n++ {
		data := randomBytes(rng.Uint64(), rng.IntN(1<<20))
		tmp := filepath.Join(mnt, fmt.Sprintf("w%d-%d.tmp", id, n))
		final := filepath.Join(mnt, fmt.Sprintf("w%d-%d", id, n))
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			fail(fmt.Errorf("writer %d: %v", id, err))
			return
		}
		if err := os.Rename(tmp, final); err != nil {
			fail(fmt.Errorf("writer %d: rename: %v", id, err))
			return
		}
		got, err := os.ReadFile(final)
		if err != nil || !bytes.Equal(got, data) {
			fail(fmt.Errorf("writer %d: read back %d of %d bytes: %v", id, len(got), len(data), err))
			return
		}
		if n > 0 {
			if err := os.Remove(filepath.Join(mnt, fmt.Sprintf("w%d-%d", id, n-1))); err != nil {
				fail(fmt.Errorf("writer %d: remove: %v", id, err))
				return
			}
		}
	}
}

// tcpInodes returns the inode numbers of the TCP sockets in ftpfs's
// network namespace (/proc/PID/net/tcp and tcp6, tenth field).
func tcpInodes(m *Mount) map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", m.cmd.Process.Pid, f))
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if fields := strings.Fields(line); len(fields) > 9 {
				out[fields[9]] = true
			}
		}
	}
	return out
}

func fdTargets(m *Mount) []string {
	dir := fmt.Sprintf("/proc/%d/fd", m.cmd.Process.Pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, l)
	}
	return out
}
