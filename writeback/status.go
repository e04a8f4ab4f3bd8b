package writeback

import "time"

// Len returns how many operations are pending.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.activeLocked()
}

// Transfer is an upload in flight.
type Transfer struct {
	Path    string
	Size    int64 // bytes in all
	Sent    int64 // bytes read for sending so far
	Started time.Time
}

// Status is a snapshot of the queue.
type Status struct {
	Ops     int   // operations pending
	Uploads int   // uploads pending
	Bytes   int64 // their bytes
	Done    int   // operations done by this mount
	Kept    int   // uploads that failed and were kept locally by this mount
	Running []Transfer
}

// Status returns a snapshot of the queue.
func (q *Queue) Status() Status {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Status{Ops: q.activeLocked(), Uploads: q.stats.uploads, Bytes: q.stats.bytes, Done: q.stats.done, Kept: q.stats.kept}
	for _, x := range q.pending {
		if x.state == running && x.kind() == KindUpload {
			s.Running = append(s.Running, Transfer{Path: x.Path, Size: x.Size, Sent: x.sent.Load(), Started: x.started})
		}
	}
	return s
}
