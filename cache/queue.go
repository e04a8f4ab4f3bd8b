package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Queue is a directory of files waiting for upload that survives the
// process: each entry is a data file and a manifest naming where it goes.
// An entry is durable (both files synced, and the directory) once Add
// returns, and it counts only once its manifest exists, which is written
// last; an entry is removed once its upload is done.
type Queue struct {
	dir string
	seq atomic.Uint64
}

// QueueEntry describes one queued upload.
type QueueEntry struct {
	ID   string `json:"-"`    // the entry's name in the queue, ordered by time queued
	Path string `json:"path"` // where the data goes on the server
	Size int64  `json:"size"`
	// Mode and ModTime are set after the upload where Has*.
	Mode    uint32    `json:"mode,omitempty"`
	HasMode bool      `json:"has_mode,omitempty"`
	ModTime time.Time `json:"mtime,omitempty"`
	HasTime bool      `json:"has_time,omitempty"`
	// ServerHad says that the path held a file on the server when the
	// entry was queued.
	ServerHad bool `json:"server_had"`
	// Changed is when the content last changed: the file's time until
	// the upload sets one.
	Changed time.Time `json:"changed"`
}

const (
	dataSuffix     = ".data"
	manifestSuffix = ".json"
)

// OpenQueue opens (creating it, private) the queue in dir.
func OpenQueue(dir string) (*Queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload queue: %w", err)
	}
	return &Queue{dir: dir}, nil
}

// Dir returns the queue's directory.
func (q *Queue) Dir() string { return q.dir }

// DataPath returns the path of an entry's data file.
func (q *Queue) DataPath(id string) string { return filepath.Join(q.dir, id+dataSuffix) }

// Add writes size bytes of src and the manifest e as a new entry, syncs
// them, and returns the entry with its ID set.
func (q *Queue) Add(e QueueEntry, src io.ReaderAt) (QueueEntry, error) {
	e.ID = fmt.Sprintf("%s-%06d", time.Now().UTC().Format("20060102T150405.000000000"), q.seq.Add(1)%1000000)
	if e.Changed.IsZero() {
		e.Changed = time.Now()
	}
	data := q.DataPath(e.ID)
	if err := writeSynced(data, io.NewSectionReader(src, 0, e.Size)); err != nil {
		os.Remove(data)
		return e, fmt.Errorf("upload queue: %w", err)
	}
	if err := q.writeManifest(e); err != nil {
		os.Remove(data)
		return e, err
	}
	return e, nil
}

// Update rewrites the manifest of an entry (a new path, after a rename).
func (q *Queue) Update(e QueueEntry) error { return q.writeManifest(e) }

func (q *Queue) writeManifest(e QueueEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp := filepath.Join(q.dir, e.ID+manifestSuffix+".tmp")
	if err := writeSynced(tmp, strings.NewReader(string(b))); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload queue: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(q.dir, e.ID+manifestSuffix)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload queue: %w", err)
	}
	return syncDir(q.dir)
}

// Remove deletes an entry: its manifest first, so that a crash in between
// leaves a data file that Entries ignores and removes.
func (q *Queue) Remove(id string) error {
	err := os.Remove(filepath.Join(q.dir, id+manifestSuffix))
	if derr := os.Remove(q.DataPath(id)); err == nil || errors.Is(err, os.ErrNotExist) {
		err = derr
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Entries returns the entries in the order they were queued. Data files
// without a manifest (a crash during Add or Remove) are removed; a
// manifest that cannot be read is reported and left alone.
func (q *Queue) Entries() ([]QueueEntry, error) {
	names, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("upload queue: %w", err)
	}
	have := map[string]bool{}
	for _, d := range names {
		if id, ok := strings.CutSuffix(d.Name(), manifestSuffix); ok {
			have[id] = true
		}
	}
	var out []QueueEntry
	var bad []string
	for _, d := range names {
		name := d.Name()
		if id, ok := strings.CutSuffix(name, dataSuffix); ok && !have[id] {
			os.Remove(filepath.Join(q.dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, manifestSuffix)
		if !ok {
			if strings.HasSuffix(name, ".tmp") {
				os.Remove(filepath.Join(q.dir, name))
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(q.dir, name))
		var e QueueEntry
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		if err == nil {
			var fi os.FileInfo
			if fi, err = os.Stat(q.DataPath(id)); err == nil && fi.Size() != e.Size {
				err = fmt.Errorf("data file holds %d bytes, manifest says %d", fi.Size(), e.Size)
			}
		}
		if err != nil || e.Path == "" {
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		e.ID = id
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(bad) > 0 {
		return out, fmt.Errorf("upload queue %s: unreadable entries left in place: %s", q.dir, strings.Join(bad, "; "))
	}
	return out, nil
}

// writeSynced writes r to a new file at path and syncs it.
func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
