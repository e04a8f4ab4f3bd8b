package cache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := q.Add(QueueEntry{Path: "/a", Size: 5, ServerHad: true}, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Add(QueueEntry{Path: "/b", Size: 0}, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	b.Path = "/renamed"
	if err := q.Update(b); err != nil {
		t.Fatal(err)
	}
	// A data file whose manifest was never written is debris.
	orphan := filepath.Join(dir, "19700101T000000.000000000-000001"+dataSuffix)
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	q2, _ := OpenQueue(dir)
	got, err := q2.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[0].Path != "/a" || !got[0].ServerHad || got[1].Path != "/renamed" {
		t.Fatalf("Entries = %+v", got)
	}
	if data, err := os.ReadFile(q2.DataPath(a.ID)); err != nil || string(data) != "hello" {
		t.Fatalf("data of /a: %q, %v", data, err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan data file left: %v", err)
	}
	if err := q2.Remove(a.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := q2.Entries(); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("after Remove: %+v", got)
	}
}

func TestQueueBadManifestLeftInPlace(t *testing.T) {
	dir := t.TempDir()
	q, _ := OpenQueue(dir)
	e, err := q.Add(QueueEntry{Path: "/a", Size: 3}, strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(q.DataPath(e.ID), []byte("ab"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := q.Entries()
	if err == nil || len(got) != 0 {
		t.Fatalf("a short data file: entries %+v, err %v; want an error and no entry", got, err)
	}
	if _, serr := os.Stat(q.DataPath(e.ID)); serr != nil {
		t.Errorf("the entry was removed: %v", serr)
	}
}
