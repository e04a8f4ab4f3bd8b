package integration

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// parallelRate caps each session of the servers of TestParallelRead, in
// bytes per second: slow enough that one stream counts as slow, fast
// enough that the test takes seconds.
const parallelRate = 10_000_000

// TestParallelRead reads a large file from servers that cap each session's
// rate: cat gets it byte for byte, and ftpfs fetched ranges of it with
// REST+RETR on several sessions (counted in its debug log; the time it
// took is the benchmark's business, scripts/bench). Then the fallbacks:
// with parallel=1 one stream reads it whole, and a server that refuses
// sessions past two still gets the file right.
func TestParallelRead(t *testing.T) {
	RequireFUSE(t)
	const size = 64 << 20
	root := t.TempDir()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	for _, c := range []struct {
		name    string
		kind    string
		srvOpts []ServerOption
		mount   []string
		// ranges: whether ftpfs must have fetched ranges with REST.
		ranges bool
	}{
		{"vsftpd", KindVsftpd, []ServerOption{WithMaxRate(parallelRate)}, nil, true},
		{"vsftpd-tls", KindVsftpd, []ServerOption{WithMaxRate(parallelRate), WithTLS("explicit")}, []string{"tls"}, true},
		{"pure-ftpd", KindPureFTPd, []ServerOption{WithMaxRate(parallelRate)}, nil, true},
		{"parallel=1", KindVsftpd, []ServerOption{WithMaxRate(parallelRate)}, []string{"parallel=1"}, false},
		// A server that refuses a third session: the pool shrinks to
		// two, and the ranges make do with what it can spare.
		{"max-sessions-2", KindVsftpd, []ServerOption{WithMaxRate(parallelRate), WithMaxSessions(2)}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := StartServer(t, c.kind, root, c.srvOpts...)
			opts := append([]string{"debug"}, c.mount...)
			if srv.CAFile != "" {
				opts = append(opts, "cafile="+srv.CAFile)
			}
			m := MountServer(t, srv, opts...)
			got := catHash(t, filepath.Join(m.Dir, "big.bin"))
			if got != want {
				t.Fatalf("cat read other bytes than the server's file\n%s", tail(m.Log(), 30))
			}
			rests := len(regexp.MustCompile(`cmd="REST \d+"`).FindAllString(m.Log(), -1))
			retrs := len(regexp.MustCompile(`cmd="RETR [^"]*big\.bin"`).FindAllString(m.Log(), -1))
			parallel := bytes.Contains([]byte(m.Log()), []byte("reading in parallel"))
			t.Logf("%d RETR, %d REST", retrs, rests)
			switch {
			case c.ranges && (!parallel || rests < 3 || retrs < 4):
				t.Errorf("%d RETR and %d REST for 64 MiB at a capped rate: want ranges fetched in parallel\n%s", retrs, rests, tail(m.Log(), 40))
			case !c.ranges && c.name == "parallel=1" && (parallel || retrs != 1):
				t.Errorf("parallel=1: %d RETR, want one stream\n%s", retrs, tail(m.Log(), 40))
			}
		})
	}
}

// catHash runs cat on path and returns the SHA-256 of what it printed.
func catHash(t *testing.T, path string) [32]byte {
	t.Helper()
	out := Run(t, 3*time.Minute, "cat", path)
	return sha256.Sum256([]byte(out))
}
