package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testReadAheadSmallFiles checks that a process reading the small files of
// a directory one after another gets the next ones read ahead: after `cat`
// has read two of them, the others are fetched without being opened, each
// exactly once, and what they read is right. A file that changed size on
// the server since is read anew, and a process reading a single file
// starts nothing.
func testReadAheadSmallFiles(t *testing.T, env *readEnv) {
	const n = 12
	dir := filepath.Join(env.root, "ahead")
	single := filepath.Join(env.root, "ahead-single")
	old := time.Now().Add(-2 * time.Hour)
	want := map[string]string{}
	for _, d := range []string{dir, single} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("f%02d.txt", i)
			body := strings.Repeat(fmt.Sprintf("%s line %d\n", name, i), 20+i)
			p := filepath.Join(d, name)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			want[filepath.Base(d)+"/"+name] = body
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir); os.RemoveAll(single) })

	m := MountServer(t, env.srv, "debug", "cache_timeout=0")
	retrs := func(sub string) map[string]int {
		re := regexp.MustCompile(`cmd="RETR [^"]*/` + regexp.QuoteMeta(sub) + `/(f\d\d\.txt)"`)
		got := map[string]int{}
		for _, mm := range re.FindAllStringSubmatch(m.Log(), -1) {
			got[mm[1]]++
		}
		return got
	}
	mdir := filepath.Join(m.Dir, "ahead")
	// A walker meets the files in the directory's order, not sorted.
	order := strings.Fields(Run(t, time.Minute, "ls", "-U", mdir))
	if len(order) != n {
		t.Fatalf("ls -U shows %q", order)
	}
	first, second := order[0], order[1]
	if got := Run(t, time.Minute, "cat", filepath.Join(mdir, first), filepath.Join(mdir, second)); got != want["ahead/"+first]+want["ahead/"+second] {
		t.Fatalf("cat %s %s read %q", first, second, got)
	}
	// The files after those two are read ahead, unasked.
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := retrs("ahead")
		missing := 0
		for _, name := range order[2:] {
			if got[name] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the files after %s were not read ahead; RETRs: %v\n%s", missing, second, got, tail(m.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range order[2:] {
		if got := Run(t, time.Minute, "cat", filepath.Join(mdir, name)); got != want["ahead/"+name] {
			t.Errorf("%s: read %q, want %q", name, got, want["ahead/"+name])
		}
	}
	for name, c := range retrs("ahead") {
		if c != 1 {
			t.Errorf("%s fetched %d times, want once", name, c)
		}
	}

	// A file that changed on the server (its size shows it once the
	// listing is asked for again) is not served from what was read ahead.
	last := order[n-1]
	changed := "changed on the server\n"
	if err := os.WriteFile(filepath.Join(dir, last), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the listing's minimum reuse
	Run(t, time.Minute, "ls", "-l", mdir)
	if got := Run(t, time.Minute, "cat", filepath.Join(mdir, last)); got != changed {
		t.Errorf("%s after it changed on the server: read %q, want %q", last, got, changed)
	}

	// One process, one file: nothing else is fetched.
	sdir := filepath.Join(m.Dir, "ahead-single")
	Run(t, time.Minute, "ls", "-l", sdir)
	for i := 0; i < 2; i++ {
		if got := Run(t, time.Minute, "cat", filepath.Join(sdir, "f03.txt")); got != want["ahead-single/f03.txt"] {
			t.Fatalf("cat ahead-single/f03: read %q", got)
		}
	}
	time.Sleep(500 * time.Millisecond)
	for name := range retrs("ahead-single") {
		if name != "f03.txt" {
			t.Errorf("reading f03 alone fetched %s too", name)
		}
	}
}
