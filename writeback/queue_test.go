package writeback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStore records what reaches the server, in order; an operation on a
// path in hold waits until the test releases it.
type fakeStore struct {
	mu    sync.Mutex
	log   []string
	files map[string]string
	hold  map[string]chan struct{}
	fail  map[string]error
	began chan string
}

func newFakeStore() *fakeStore {
	return &fakeStore{files: map[string]string{}, hold: map[string]chan struct{}{}, fail: map[string]error{}, began: make(chan string, 100)}
}

func (s *fakeStore) gate(ctx context.Context, p string) error {
	s.mu.Lock()
	h := s.hold[p]
	err := s.fail[p]
	s.mu.Unlock()
	s.began <- p
	if h != nil {
		select {
		case <-h:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (s *fakeStore) record(e string) {
	s.mu.Lock()
	s.log = append(s.log, e)
	s.mu.Unlock()
}

func (s *fakeStore) Upload(ctx context.Context, o Op, data io.ReaderAt) (Applied, error) {
	if err := s.gate(ctx, o.Path); err != nil {
		return Applied{}, err
	}
	b := make([]byte, o.Size)
	if _, err := data.ReadAt(b, 0); err != nil && err != io.EOF {
		return Applied{}, err
	}
	s.mu.Lock()
	s.files[o.Path] = string(b)
	s.mu.Unlock()
	s.record(fmt.Sprintf("upload %s %q mode=%o", o.Path, b, o.Mode))
	return Applied{Mode: o.HasMode, Time: o.HasTime}, nil
}

func (s *fakeStore) SetAttrs(ctx context.Context, p string, a Attrs) (Applied, error) {
	if err := s.gate(ctx, p); err != nil {
		return Applied{}, err
	}
	s.record(fmt.Sprintf("attrs %s mode=%o", p, a.Mode))
	return Applied{Mode: a.HasMode, Time: a.HasTime}, nil
}

func (s *fakeStore) Rename(ctx context.Context, from, to string) error {
	if err := s.gate(ctx, from); err != nil {
		return err
	}
	s.mu.Lock()
	s.files[to] = s.files[from]
	delete(s.files, from)
	s.mu.Unlock()
	s.record("rename " + from + " " + to)
	return nil
}

func (s *fakeStore) holdPath(p string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(chan struct{})
	s.hold[p] = c
	return c
}

func (s *fakeStore) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func openQueue(t *testing.T, dir string, s *fakeStore) *Queue {
	t.Helper()
	q, _, err := Open(Config{Dir: dir, Unsaved: filepath.Join(t.TempDir(), "unsaved"), Store: s, RetryPause: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func drain(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if left := q.Drain(ctx); left != 0 {
		t.Fatalf("%d operations left after drain", left)
	}
}

func upload(t *testing.T, q *Queue, p, data string) {
	t.Helper()
	if err := q.Upload(Op{Path: p, Size: int64(len(data))}, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func indexOf(ev []string, prefix string) int {
	for i, e := range ev {
		if strings.HasPrefix(e, prefix) {
			return i
		}
	}
	return -1
}

// A directory made read-only after files were queued into it (tar of a
// read-only archive) gets its mode after their uploads; an unrelated
// upload does not wait for them.
func TestAttrsOfDirectoryWaitForUploadsBelow(t *testing.T) {
	s := newFakeStore()
	q := openQueue(t, t.TempDir(), s)
	q.Start(4)
	release := s.holdPath("/d/e/f")
	upload(t, q, "/d/e/f", "f")
	upload(t, q, "/d/g", "g")
	for _, dir := range []string{"/d/e", "/d"} {
		if queued, err := q.SetAttrs(dir, Attrs{Mode: 0o555, HasMode: true}); err != nil || !queued {
			t.Fatalf("SetAttrs(%s) = %v, %v; want queued", dir, queued, err)
		}
	}
	if queued, _ := q.SetAttrs("/other", Attrs{Mode: 0o700, HasMode: true}); queued {
		t.Fatal("attributes of an unrelated path were queued")
	}
	upload(t, q, "/x/unrelated", "u")
	waitUntil(t, func() bool { return indexOf(s.events(), "upload /x/unrelated") >= 0 })
	if ev := s.events(); indexOf(ev, "attrs") >= 0 {
		t.Fatalf("attributes reached the server before the held upload below them: %v", ev)
	}
	close(release)
	drain(t, q)
	ev := s.events()
	if f, e, d := indexOf(ev, "upload /d/e/f"), indexOf(ev, "attrs /d/e "), indexOf(ev, "attrs /d "); f < 0 || e < f || d < e || d < indexOf(ev, "upload /d/g") {
		t.Fatalf("order %v", ev)
	}
}

// rsync's pattern: write a temporary name, close (queued), set mode and
// time, rename over the real name. The mode, time and rename reach the
// server in that order after the upload, even when the upload had
// started; meanwhile the file reads and lists under its new name.
func TestRenameOfRunningUploadKeepsOrder(t *testing.T) {
	s := newFakeStore()
	q := openQueue(t, t.TempDir(), s)
	q.Start(4)
	release := s.holdPath("/d/.f.tmp")
	upload(t, q, "/d/.f.tmp", "new content")
	if p := <-s.began; p != "/d/.f.tmp" {
		t.Fatalf("began %s", p)
	}
	if queued, _ := q.SetAttrs("/d/.f.tmp", Attrs{Mode: 0o640, HasMode: true, ModTime: time.Unix(1e9, 0), HasTime: true}); !queued {
		t.Fatal("attributes of a running upload were not queued")
	}
	if queued, err := q.Rename("/d/.f.tmp", "/d/f", true); err != nil || !queued {
		t.Fatalf("Rename = %v, %v", queued, err)
	}
	f, size := q.Data("/d/f")
	if f == nil {
		t.Fatal("no data under the new name while the rename is pending")
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "new content" || size != 11 {
		t.Fatalf("data under the new name: %q (%d)", b, size)
	}
	ov := map[string]Shown{}
	for _, s := range q.Overlay("/d") {
		ov[s.Name] = s
	}
	if !ov[".f.tmp"].Gone || ov["f"].Gone || ov["f"].Size != 11 {
		t.Fatalf("overlay %+v", ov)
	}
	close(release)
	drain(t, q)
	want := []string{`upload /d/.f.tmp "new content" mode=0`, "attrs /d/.f.tmp mode=640", "rename /d/.f.tmp /d/f"}
	if ev := s.events(); strings.Join(ev, "|") != strings.Join(want, "|") {
		t.Fatalf("events %v, want %v", ev, want)
	}
	if len(q.Overlay("/d")) != 0 {
		t.Fatal("overlay left after the queue drained")
	}
	if _, err := os.ReadDir(q.Journal().Dir()); err != nil {
		t.Fatal(err)
	}
	assertEmptyJournal(t, q)
}

// A new file not yet started moves in the queue alone: one upload, to the
// new name, carrying the attributes set before the rename.
func TestRenameOfQueuedNewFileMovesInQueue(t *testing.T) {
	s := newFakeStore()
	q := openQueue(t, t.TempDir(), s)
	upload(t, q, "/a.tmp", "a")
	if queued, _ := q.SetAttrs("/a.tmp", Attrs{Mode: 0o600, HasMode: true}); !queued {
		t.Fatal("attributes not merged")
	}
	if queued, _ := q.Rename("/a.tmp", "/a", false); !queued {
		t.Fatal("rename not queued")
	}
	q.Start(2)
	drain(t, q)
	want := []string{`upload /a "a" mode=600`}
	if ev := s.events(); strings.Join(ev, "|") != strings.Join(want, "|") {
		t.Fatalf("events %v, want %v", ev, want)
	}
}

// A second close of a file whose upload has not started replaces it.
func TestNewerUploadReplacesQueued(t *testing.T) {
	s := newFakeStore()
	q := openQueue(t, t.TempDir(), s)
	upload(t, q, "/f", "v1")
	upload(t, q, "/f", "v2")
	q.Start(2)
	drain(t, q)
	if ev := s.events(); len(ev) != 1 || s.files["/f"] != "v2" {
		t.Fatalf("events %v, files %v", ev, s.files)
	}
}

// Unlink of a file only queued drops its upload; the server had none.
func TestForgetCancelsQueuedUpload(t *testing.T) {
	s := newFakeStore()
	q := openQueue(t, t.TempDir(), s)
	upload(t, q, "/gone", "x")
	had, serverHas, err := q.Forget(context.Background(), "/gone")
	if err != nil || !had || serverHas {
		t.Fatalf("Forget = %v %v %v", had, serverHas, err)
	}
	q.Start(1)
	drain(t, q)
	if ev := s.events(); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
	assertEmptyJournal(t, q)
}

// What a mount leaves in the journal, the next replays in the same order.
func TestResumeReplaysInOrder(t *testing.T) {
	dir := t.TempDir()
	s := newFakeStore()
	q := openQueue(t, dir, s)
	upload(t, q, "/r/.x", "x")
	q.SetAttrs("/r/.x", Attrs{Mode: 0o644, HasMode: true})
	s.holdPath("/r/.x")
	q.Start(1)
	<-s.began // the upload is running: what follows is journaled separately
	q.SetAttrs("/r/.x", Attrs{Mode: 0o600, HasMode: true})
	q.Rename("/r/.x", "/r/x", false)
	q.SetAttrs("/r", Attrs{Mode: 0o555, HasMode: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if left := q.Drain(ctx); left != 4 {
		t.Fatalf("left %d, want 4", left)
	}

	s2 := newFakeStore()
	q2 := openQueue(t, dir, s2)
	if f, _ := q2.Data("/r/x"); f == nil {
		t.Fatal("resumed queue does not show the renamed file's data")
	} else {
		f.Close()
	}
	q2.Start(3)
	drain(t, q2)
	want := []string{`upload /r/.x "x" mode=644`, "attrs /r/.x mode=600", "rename /r/.x /r/x", "attrs /r mode=555"}
	if ev := s2.events(); strings.Join(ev, "|") != strings.Join(want, "|") {
		t.Fatalf("events %v, want %v", ev, want)
	}
	assertEmptyJournal(t, q2)
}

// A refused upload's data is kept under unsaved/, or, where that cannot
// be made, beside the journal: never removed.
func TestFailedUploadKeepsData(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unsaved   func(t *testing.T) string
		wantWhere string
	}{
		{"unsaved dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "unsaved") }, "unsaved"},
		{"unsaved dir cannot be made", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o600)
			return filepath.Join(f, "unsaved")
		}, "journal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeStore()
			s.fail["/f"] = errors.New("553 Permission denied")
			dir := t.TempDir()
			unsaved := tc.unsaved(t)
			q, _, err := Open(Config{Dir: dir, Unsaved: unsaved, Store: s, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			upload(t, q, "/f", "precious")
			q.Start(1)
			if err := q.Wait(context.Background(), "/f"); err == nil {
				t.Fatal("Wait reported no failure")
			}
			drain(t, q)
			var found []string
			for _, d := range []string{dir, unsaved} {
				ents, _ := os.ReadDir(d)
				for _, e := range ents {
					b, _ := os.ReadFile(filepath.Join(d, e.Name()))
					if string(b) == "precious" {
						found = append(found, d)
					}
				}
			}
			want := dir
			if tc.wantWhere == "unsaved" {
				want = unsaved
			}
			if len(found) != 1 || found[0] != want {
				t.Fatalf("data found in %v, want in %s", found, want)
			}
			// Kept data is not an entry: a new mount does not retry it.
			q2, n, _ := Open(Config{Dir: dir, Unsaved: unsaved, Store: s, Logger: quiet})
			if n != 0 {
				t.Fatalf("reopened queue has %d entries", n)
			}
			drain(t, q2)
		})
	}
}

// A transient failure is tried again, and what depends on it waits.
func TestTransientFailureRetriedInOrder(t *testing.T) {
	s := newFakeStore()
	errAway := errors.New("server away")
	s.fail["/d/f"] = errAway
	q, _, err := Open(Config{Dir: t.TempDir(), Store: s, RetryPause: 5 * time.Millisecond, Logger: quiet,
		Transient: func(err error) bool { return errors.Is(err, errAway) }})
	if err != nil {
		t.Fatal(err)
	}
	upload(t, q, "/d/f", "f")
	q.SetAttrs("/d", Attrs{Mode: 0o555, HasMode: true})
	q.Start(2)
	<-s.began
	<-s.began
	if ev := s.events(); len(ev) != 0 {
		t.Fatalf("events while the upload fails: %v", ev)
	}
	s.mu.Lock()
	delete(s.fail, "/d/f")
	s.mu.Unlock()
	drain(t, q)
	if ev := s.events(); len(ev) != 2 || !strings.HasPrefix(ev[0], "upload /d/f") {
		t.Fatalf("events %v", ev)
	}
}

func assertEmptyJournal(t *testing.T, q *Queue) {
	t.Helper()
	ents, _ := os.ReadDir(q.Journal().Dir())
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("journal not empty: %v", names)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Data kept beside the journal (the unsaved directory could not be made)
// moves there at the next Open that can make it, named after its path.
func TestKeptBesideMovesToUnsaved(t *testing.T) {
	s := newFakeStore()
	s.fail["/d/f"] = errors.New("553 Permission denied")
	dir := t.TempDir()
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	q, _, err := Open(Config{Dir: dir, Unsaved: filepath.Join(blocker, "unsaved"), Store: s, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	upload(t, q, "/d/f", "precious")
	q.Start(1)
	drain(t, q)
	unsaved := filepath.Join(t.TempDir(), "unsaved")
	q2, _, err := Open(Config{Dir: dir, Unsaved: unsaved, Store: s, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, q2)
	ents, _ := os.ReadDir(unsaved)
	if len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), "-d%f") {
		t.Fatalf("unsaved/ holds %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(unsaved, ents[0].Name())); string(b) != "precious" {
		t.Fatalf("kept %q", b)
	}
	assertEmptyJournal(t, q2)
}
