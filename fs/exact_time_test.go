package fs

import (
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

func TestKeepExactTime(t *testing.T) {
	at := func(h, m, s int) time.Time { return time.Date(2026, 12, 1, h, m, s, 0, time.UTC) }
	dir := func(t time.Time, grain time.Duration) conn.Entry {
		return conn.Entry{Type: conn.TypeDir, ModTime: t, HasTime: true, TimeGrain: grain}
	}
	cases := []struct {
		name     string
		listed   conn.Entry
		shown    conn.Entry
		wantTime time.Time
	}{
		{"seconds within the listed minute", dir(at(3, 44, 0), time.Minute), dir(at(3, 44, 21), 0), at(3, 44, 21)},
		{"the next minute", dir(at(3, 44, 0), time.Minute), dir(at(3, 45, 0), 0), at(3, 44, 0)},
		{"before the listed minute", dir(at(3, 44, 0), time.Minute), dir(at(3, 43, 59), 0), at(3, 44, 0)},
		{"an exact listing", dir(at(3, 44, 5), 0), dir(at(3, 44, 21), 0), at(3, 44, 5)},
		{"a day's grain", dir(at(0, 0, 0), 24*time.Hour), dir(at(17, 2, 3), 0), at(17, 2, 3)},
		{"another type", dir(at(3, 44, 0), time.Minute), conn.Entry{Type: conn.TypeFile, ModTime: at(3, 44, 21), HasTime: true}, at(3, 44, 0)},
		{"nothing shown", dir(at(3, 44, 0), time.Minute), conn.Entry{Type: conn.TypeDir}, at(3, 44, 0)},
	}
	for _, c := range cases {
		if got := keepExactTime(c.listed, c.shown).ModTime; !got.Equal(c.wantTime) {
			t.Errorf("%s: %v, want %v", c.name, got, c.wantTime)
		}
	}
}
