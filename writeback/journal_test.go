package writeback

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournalSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := j.Add(Op{Path: "/a", Size: 5, ServerHad: true}, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.Add(Op{Kind: KindAttrs, Path: "/b", Attrs: Attrs{Mode: 0o555, HasMode: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Path = "/renamed"
	if err := j.Update(b); err != nil {
		t.Fatal(err)
	}
	c, err := j.Add(Op{Kind: KindRename, Path: "/x", To: "/y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A data file whose manifest was never written is debris; kept data
	// of a failed upload is not.
	orphan := filepath.Join(dir, "19700101T000000.000000000-000001"+dataSuffix)
	kept := filepath.Join(dir, "19700101T000000.000000000-000002"+keptSuffix)
	for _, f := range []string{orphan, kept} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenJournal(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open of a journal in use: %v", err)
	}
	j.Close()
	j2, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got, err := j2.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != a.ID || got[0].Path != "/a" || !got[0].ServerHad || got[0].kind() != KindUpload ||
		got[1].Path != "/renamed" || got[1].kind() != KindAttrs || got[1].Mode != 0o555 ||
		got[2].ID != c.ID || got[2].To != "/y" {
		t.Fatalf("Entries = %+v", got)
	}
	if data, err := os.ReadFile(j2.DataPath(a.ID)); err != nil || string(data) != "hello" {
		t.Fatalf("data of /a: %q, %v", data, err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan data file left: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("kept data removed: %v", err)
	}
	// IDs made after reopening sort after the old ones.
	d, err := j2.Add(Op{Kind: KindAttrs, Path: "/z"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID <= c.ID {
		t.Errorf("new ID %s sorts before %s", d.ID, c.ID)
	}
	if err := j2.Remove(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j2.DataPath(a.ID)); !os.IsNotExist(err) {
		t.Errorf("data of a removed entry left: %v", err)
	}
}

// An entry written before operations had kinds is an upload.
func TestJournalReadsOldManifests(t *testing.T) {
	dir := t.TempDir()
	id := "20260101T000000.000000000-000001"
	if err := os.WriteFile(filepath.Join(dir, id+dataSuffix), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := `{"path":"/old","size":3,"mode":420,"has_mode":true,"server_had":true,"changed":"2026-01-01T00:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, id+manifestSuffix), []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	j, _ := OpenJournal(dir)
	defer j.Close()
	got, err := j.Entries()
	if err != nil || len(got) != 1 || got[0].kind() != KindUpload || got[0].Path != "/old" || got[0].Mode != 0o644 {
		t.Fatalf("Entries = %+v, %v", got, err)
	}
}
