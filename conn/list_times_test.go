package conn

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestParseMDTM: RFC 3659's time-val, with and without a fraction, and
// what is not one.
func TestParseMDTM(t *testing.T) {
	cases := []struct {
		msg  string
		want string // RFC 3339 with nanoseconds, "" for not a time
	}{
		{"20240315101112", "2024-03-15T10:11:12Z"},
		{" 20240315101112\r", "2024-03-15T10:11:12Z"},
		{"20240315101112.5", "2024-03-15T10:11:12.5Z"},
		{"20240315101112.123456789", "2024-03-15T10:11:12.123456789Z"},
		{"19700101000000", "1970-01-01T00:00:00Z"},
		{"20240229235959", "2024-02-29T23:59:59Z"},
		{"20161231235960", "2017-01-01T00:00:00Z"}, // a leap second
		{"20230229000000", ""},                     // no such day
		{"20240315241112", ""},
		{"20240315106112", ""},
		{"191240315101112", ""}, // the Y2K bug's "19124"
		{"2024031510111", ""},
		{"20240315101112.", ""},
		{"20240315101112.1234567890", ""},
		{"20240315101112Z", ""},
		{"2024-03-15 10:11:12", ""},
		{"", ""},
		{"File not found", ""},
	}
	for _, c := range cases {
		got, ok := parseMDTM(c.msg)
		switch {
		case c.want == "" && ok:
			t.Errorf("parseMDTM(%q) = %v, want not a time", c.msg, got)
		case c.want != "" && (!ok || got.Format(time.RFC3339Nano) != c.want):
			t.Errorf("parseMDTM(%q) = %v, %v, want %s", c.msg, got, ok, c.want)
		}
	}
}

// mdtmFake serves a LIST-only listing of n files and a directory, with
// minute times, whose MDTM replies give seconds; file 3 has none (550).
func mdtmFake(t *testing.T, n int, feat string, setup ...func(*fakeFTP)) *fakeFTP {
	var list strings.Builder
	mdtm := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("file %03d", i)
		fmt.Fprintf(&list, "-rw-r--r-- 1 u g 10 Mar 15  2024 %s\r\n", name)
		if i != 3 {
			mdtm[name] = fmt.Sprintf("213 20240315%02d%02d%02d", i/3600%24, i/60%60, i%60)
		}
	}
	list.WriteString("drwxr-xr-x 2 u g 4096 Mar 15  2024 sub\r\n")
	mdtm["sub"] = "213 20240315000042"
	set := func(f *fakeFTP) {
		f.list, f.mdtm = list.String(), mdtm
	}
	return startFake(t, map[string]string{"FEAT": "211-Features:\r\n EPRT\r\n SIZE\r\n" + feat + "211 End"}, append([]func(*fakeFTP){set}, setup...)...)
}

func openFake(t *testing.T, ctx context.Context, f *fakeFTP, cfg Config) *Pool {
	t.Helper()
	cfg.Host, cfg.Port, cfg.User, cfg.Password = "127.0.0.1", f.port(), "u", "pw"
	cfg.Active, cfg.Timeout = true, 5*time.Second // the fake has no passive mode
	p, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestExactTimesOneFlight: the MDTM commands of a listing all reach the
// server before it answers the first (it holds its first reply until they
// have come, or for a second): one round trip, not one per file. Each
// file then carries MDTM's second; the file MDTM fails for keeps the
// listed time, and the directory is not asked.
func TestExactTimesOneFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 1000
	f := mdtmFake(t, n, " MDTM\r\n", func(f *fakeFTP) { f.holdMDTM = n })
	p := openFake(t, ctx, f, Config{})
	ents, err := p.List(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.held(); got != n {
		t.Errorf("the server had %d of %d MDTM commands when it sent the first reply", got, n)
	}
	if len(ents) != n+1 {
		t.Fatalf("%d entries, want %d", len(ents), n+1)
	}
	listed := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	for i, e := range ents[:n] {
		want := listed.Add(time.Duration(i) * time.Second)
		if i == 3 {
			want = listed
		}
		if !e.ModTime.Equal(want) {
			t.Errorf("%s: %v, want %v", e.Name, e.ModTime, want)
		}
	}
	if sub := ents[n]; !sub.ModTime.Equal(listed) || len(f.sent("MDTM")) != n {
		t.Errorf("directory %s: %v; %d MDTM sent, want %d (none for the directory)", sub.Name, sub.ModTime, len(f.sent("MDTM")), n)
	}
}

// TestExactTimesRefusedOrOff: a server that lists MDTM in FEAT and refuses
// it is asked once, by one flight (of a directory that needs three, the
// first only); one that does not list it, or a pool with
// DisableExactTimes, is never asked; the times stay LIST's.
func TestExactTimesRefusedOrOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := []struct {
		name, feat string
		cfg        Config
		replies    map[string]string
		files      int
		wantSent   int
	}{
		{"refused", " MDTM\r\n", Config{}, map[string]string{"MDTM": "502 Command not implemented."}, 5, 5},
		// 1,000 commands of 15 bytes and 3,158 of 16 fill the first 64 KiB.
		{"refused, large", " MDTM\r\n", Config{}, map[string]string{"MDTM": "502 Command not implemented."}, 10000, 4158},
		{"not in FEAT", "", Config{}, nil, 5, 0},
		{"option", " MDTM\r\n", Config{DisableExactTimes: true}, nil, 5, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mdtmFake(t, c.files, c.feat, func(f *fakeFTP) {
				for k, v := range c.replies {
					f.replies[k] = v
				}
			})
			p := openFake(t, ctx, f, c.cfg)
			for range 2 {
				ents, err := p.List(ctx, "/d")
				if err != nil {
					t.Fatal(err)
				}
				if got := ents[1].ModTime; !got.Equal(time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("%s: %v, want the listed day", ents[1].Name, got)
				}
			}
			if got := len(f.sent("MDTM")); got != c.wantSent {
				t.Errorf("%d MDTM commands over two listings, want %d", got, c.wantSent)
			}
		})
	}
}

// TestExactTimesLargeDirectory: a directory of 10,000 files (170 KB of
// MDTM commands) is asked in flights of at most maxFlight bytes, which the
// buffers between the two sides hold whether or not the server reads on
// while its replies are unread; every file gets its time.
func TestExactTimesLargeDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 10000
	f := mdtmFake(t, n, " MDTM\r\n")
	p := openFake(t, ctx, f, Config{})
	ents, err := p.List(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	listed := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	for i, e := range ents[:n] {
		want := listed.Add(time.Duration(i) * time.Second)
		if i == 3 {
			want = listed
		}
		if !e.ModTime.Equal(want) {
			t.Fatalf("%s: %v, want %v", e.Name, e.ModTime, want)
		}
	}
	if got := len(f.sent("MDTM")); got != n {
		t.Errorf("%d MDTM commands, want %d", got, n)
	}
}

// TestMDTMArg: a name vsftpd could take for "time path" goes with "./".
func TestMDTMArg(t *testing.T) {
	for name, want := range map[string]string{
		"file":                  "file",
		"20240315101112 notes":  "./20240315101112 notes",
		"20240315 notes":        "./20240315 notes",
		"2024 report.pdf":       "./2024 report.pdf",
		"-l":                    "-l",
		" leading space":        " leading space",
		"a20240315101112 notes": "a20240315101112 notes",
	} {
		if got := mdtmArg(name); got != want {
			t.Errorf("mdtmArg(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestFlightSize: flights end before maxFlight bytes of commands, and
// hold at least one command, however long.
func TestFlightSize(t *testing.T) {
	mk := func(n, size int) []step {
		s := make([]step, n)
		for i := range s {
			s[i].cmd = strings.Repeat("x", size-2)
		}
		return s
	}
	cases := []struct {
		steps []step
		want  int
	}{
		{mk(1, 10), 1},
		{mk(1000, 20), 1000},
		{mk(10000, 32), maxFlight / 32},
		{mk(3, maxFlight+1), 1},
	}
	for _, c := range cases {
		if got := flightSize(c.steps); got != c.want {
			t.Errorf("%d steps of %d bytes: a flight of %d, want %d", len(c.steps), len(c.steps[0].cmd)+2, got, c.want)
		}
	}
}
