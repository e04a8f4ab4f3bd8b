package writeback

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is what an operation does on the server.
type Kind string

const (
	// KindUpload makes Path hold the operation's data file (Size bytes),
	// then sets its Attrs.
	KindUpload Kind = "upload"
	// KindAttrs sets the Attrs of Path.
	KindAttrs Kind = "attrs"
	// KindRename renames Path to To.
	KindRename Kind = "rename"
)

// Attrs are a mode and a modification time to set, each where Has*.
type Attrs struct {
	Mode    uint32    `json:"mode,omitempty"`
	HasMode bool      `json:"has_mode,omitempty"`
	ModTime time.Time `json:"mtime,omitempty"`
	HasTime bool      `json:"has_time,omitempty"`
}

// merge returns a with what b sets laid over it.
func (a Attrs) merge(b Attrs) Attrs {
	if b.HasMode {
		a.Mode, a.HasMode = b.Mode, true
	}
	if b.HasTime {
		a.ModTime, a.HasTime = b.ModTime, true
	}
	return a
}

// Op is one journaled operation. Its JSON form is the manifest on disk;
// a manifest without a kind is an upload (the journal of ftpfs before
// operations had kinds).
type Op struct {
	ID   string `json:"-"` // the entry's name in the journal, in the order written
	Kind Kind   `json:"kind,omitempty"`
	Path string `json:"path"`
	To   string `json:"to,omitempty"` // KindRename's new path
	// Size is the length of an upload's data, in bytes.
	Size int64 `json:"size,omitempty"`
	Attrs
	// ServerHad says that Path held a file on the server when an upload
	// was queued: the upload replaces it.
	ServerHad bool `json:"server_had,omitempty"`
	// Changed is when an upload's content last changed: its time until
	// the server lists one.
	Changed time.Time `json:"changed,omitempty"`
}

// kind returns the operation's kind, KindUpload for an old manifest.
func (o Op) kind() Kind {
	if o.Kind == "" {
		return KindUpload
	}
	return o.Kind
}

const (
	dataSuffix     = ".data"
	manifestSuffix = ".json"
	// keptSuffix marks the data of a failed upload that could not be moved
	// to the unsaved directory: left in the journal's directory, never
	// removed by ftpfs.
	keptSuffix = ".unsaved"
	idLayout   = "20060102T150405.000000000"
)

// Journal is a directory of operations that survives the process: each
// is a manifest, and an upload also a data file. An operation is durable
// (its files synced, and the directory) once Add returns, and it counts
// only once its manifest exists, which is written last; it is removed
// once done. IDs sort in the order operations were added, across
// processes too: they are times, made strictly increasing.
type Journal struct {
	dir  string
	lock *os.File // flock'd while this process owns the journal

	mu   sync.Mutex
	last time.Time // guarded by mu; the time in the newest ID
	seq  int       // guarded by mu
}

// OpenJournal opens (creating it, private) the journal in dir.
// It fails with ErrInUse while another process has it open: two
// processes replaying one journal would upload everything twice.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload queue: %w", err)
	}
	f, err := os.OpenFile(strings.TrimSuffix(dir, "/")+lockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("upload queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("upload queue %s: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("upload queue: lock: %w", err)
	}
	return &Journal{dir: dir, lock: f}, nil
}

// ErrInUse is OpenJournal's error for a journal another process holds.
var ErrInUse = errors.New("in use by another ftpfs process")

// lockSuffix names the file beside the journal's directory that its owner
// flocks.
const lockSuffix = ".lock"

// Close gives up the journal; what is in it stays for the next owner.
func (j *Journal) Close() error {
	if j.lock == nil {
		return nil
	}
	err := j.lock.Close()
	j.lock = nil
	return err
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// DataPath returns the path of an upload's data file.
func (j *Journal) DataPath(id string) string { return filepath.Join(j.dir, id+dataSuffix) }

// newID returns an ID later than every ID given before, in this process
// and (the clock permitting) in earlier ones.
func (j *Journal) newID() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	if !now.After(j.last) {
		now = j.last.Add(time.Nanosecond)
	}
	j.last = now
	j.seq = (j.seq + 1) % 1000000
	return fmt.Sprintf("%s-%06d", now.Format(idLayout), j.seq)
}

// seen makes later IDs sort after id, an ID read back from disk.
func (j *Journal) seen(id string) {
	t, err := time.Parse(idLayout, strings.SplitN(id, "-", 2)[0])
	if err != nil {
		return
	}
	j.mu.Lock()
	if t.After(j.last) {
		j.last = t
	}
	j.mu.Unlock()
}

// Add writes an operation (for an upload, first the Size bytes of src),
// syncs it, and returns it with its ID set.
func (j *Journal) Add(o Op, src io.ReaderAt) (Op, error) {
	o.ID = j.newID()
	if o.kind() == KindUpload {
		if o.Changed.IsZero() {
			o.Changed = time.Now()
		}
		data := j.DataPath(o.ID)
		if err := writeSynced(data, io.NewSectionReader(src, 0, o.Size)); err != nil {
			os.Remove(data)
			return o, fmt.Errorf("upload queue: %w", err)
		}
	}
	if err := j.writeManifest(o); err != nil {
		os.Remove(j.DataPath(o.ID))
		return o, err
	}
	return o, nil
}

// writeData writes the size bytes of src to a new synced file in the
// journal's directory, to be committed as an upload's data (or removed).
func (j *Journal) writeData(size int64, src io.ReaderAt) (string, error) {
	f, err := os.CreateTemp(j.dir, "data-*.tmp")
	if err != nil {
		return "", fmt.Errorf("upload queue: %w", err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	if err := writeSynced(name, io.NewSectionReader(src, 0, size)); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("upload queue: %w", err)
	}
	return name, nil
}

// commit journals an upload whose data writeData wrote to tmp: it takes
// an ID now, so that the journal's order is the order of the commits.
func (j *Journal) commit(o Op, tmp string) (Op, error) {
	o.ID = j.newID()
	if o.Changed.IsZero() {
		o.Changed = time.Now()
	}
	if err := os.Rename(tmp, j.DataPath(o.ID)); err != nil {
		os.Remove(tmp)
		return o, fmt.Errorf("upload queue: %w", err)
	}
	if err := j.writeManifest(o); err != nil {
		os.Remove(j.DataPath(o.ID))
		return o, err
	}
	return o, nil
}

// Update rewrites the manifest of an operation (a new path after a
// rename, attributes merged in).
func (j *Journal) Update(o Op) error { return j.writeManifest(o) }

func (j *Journal) writeManifest(o Op) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	tmp := filepath.Join(j.dir, o.ID+manifestSuffix+".tmp")
	if err := writeSynced(tmp, strings.NewReader(string(b))); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload queue: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(j.dir, o.ID+manifestSuffix)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload queue: %w", err)
	}
	return syncDir(j.dir)
}

// RemoveManifest takes an operation out of the journal, leaving an
// upload's data file, which a later Entries removes as debris unless a
// caller removes it first (the data of a renamed file still read here).
func (j *Journal) RemoveManifest(id string) error {
	err := os.Remove(filepath.Join(j.dir, id+manifestSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Remove deletes an operation: its manifest first, so that a crash in
// between leaves a data file that Entries ignores and removes.
func (j *Journal) Remove(id string) error {
	err := j.RemoveManifest(id)
	if derr := os.Remove(j.DataPath(id)); err == nil && !errors.Is(derr, os.ErrNotExist) {
		err = derr
	}
	return err
}

// Entries returns the operations in the order they were added. Data files
// without a manifest (a crash during Add or Remove) are removed; a
// manifest that cannot be read is reported and left alone, and so is the
// kept data of a failed upload.
func (j *Journal) Entries() ([]Op, error) {
	names, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("upload queue: %w", err)
	}
	have := map[string]bool{}
	for _, d := range names {
		if id, ok := strings.CutSuffix(d.Name(), manifestSuffix); ok {
			have[id] = true
		}
	}
	var out []Op
	var bad []string
	for _, d := range names {
		name := d.Name()
		if id, ok := strings.CutSuffix(name, dataSuffix); ok && !have[id] {
			os.Remove(filepath.Join(j.dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, manifestSuffix)
		if !ok {
			if strings.HasSuffix(name, ".tmp") {
				os.Remove(filepath.Join(j.dir, name))
			}
			continue
		}
		o, err := j.readManifest(id)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		j.seen(id)
		out = append(out, o)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	if len(bad) > 0 {
		return out, fmt.Errorf("upload queue %s: unreadable entries left in place: %s", j.dir, strings.Join(bad, "; "))
	}
	return out, nil
}

func (j *Journal) readManifest(id string) (Op, error) {
	var o Op
	b, err := os.ReadFile(filepath.Join(j.dir, id+manifestSuffix))
	if err == nil {
		err = json.Unmarshal(b, &o)
	}
	if err == nil && o.kind() == KindUpload {
		var fi os.FileInfo
		if fi, err = os.Stat(j.DataPath(id)); err == nil && fi.Size() != o.Size {
			err = fmt.Errorf("data file holds %d bytes, manifest says %d", fi.Size(), o.Size)
		}
	}
	if err == nil && (o.Path == "" || o.kind() == KindRename && o.To == "") {
		err = errors.New("no path")
	}
	o.ID = id
	return o, err
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
