package writeback

import (
	"os"
	"strings"
	"time"
)

// setShadowLocked shows sh at p (nil: the server's view again).
func (q *Queue) setShadowLocked(p string, sh *shadow) {
	if old := q.shadows[p]; old != nil && old.up != nil {
		old.up.refs--
		q.dropDataLocked(old.up)
	}
	if sh == nil {
		delete(q.shadows, p)
		return
	}
	if sh.up != nil {
		sh.up.refs++
	}
	q.shadows[p] = sh
}

// dropDataLocked removes the data of an upload that ended and that no
// path shows any more.
func (q *Queue) dropDataLocked(u *op) {
	if u.refs == 0 && (u.state == done || u.state == canceled) {
		os.Remove(q.j.DataPath(u.ID))
	}
}

// Data opens the pending content of p, if p shows a queued upload's data,
// and returns it with its size.
func (q *Queue) Data(p string) (*os.File, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sh := q.shadows[p]
	if sh == nil || sh.up == nil {
		return nil, 0
	}
	f, err := os.Open(q.j.DataPath(sh.up.ID))
	if err != nil {
		return nil, 0
	}
	return f, sh.up.Size
}

// Shown is a path's pending state, as Overlay gives it.
type Shown struct {
	Name    string
	Gone    bool      // renamed away: hide it
	Size    int64     // else a file of Size bytes
	ModTime time.Time // and this time
}

// Overlay returns the pending state of the entries of dir, to lay over a
// listing of it the server gave.
func (q *Queue) Overlay(dir string) []Shown {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Shown
	for p, sh := range q.shadows {
		if parent(p) != dir {
			continue
		}
		s := Shown{Name: p[strings.LastIndexByte(p, '/')+1:], Gone: sh.up == nil}
		if u := sh.up; u != nil {
			s.Size, s.ModTime = u.Size, u.Changed
			if u.HasTime {
				s.ModTime = u.ModTime
			}
		}
		out = append(out, s)
	}
	return out
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
