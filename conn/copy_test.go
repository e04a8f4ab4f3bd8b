package conn

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// copyFake is a fake server whose FEAT lists SIZE and MFMT, with or
// without mod_copy's SITE CPFR and CPTO.
func copyFake(t *testing.T, siteCopy bool) *fakeFTP {
	return startFake(t, map[string]string{
		"FEAT": "211-Features:\r\n EPRT\r\n MFMT\r\n SIZE\r\n SITE COPY\r\n211 End",
		"MFMT": "213 Modify=20240102030405; /g",
	}, func(f *fakeFTP) { f.siteCopy = siteCopy })
}

// TestCopySiteCopy: a copy is SITE CPFR and SITE CPTO, then SIZE and MFMT
// of the copy; no transfer. A copy whose size is not the one expected
// (the source changed on the server) fails and is not repeated.
func TestCopySiteCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := copyFake(t, true)
	p := openFake(t, ctx, f, Config{})
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	applied, err := p.Copy(ctx, "/f", "/g", int64(len(fakeContent)), Attrs{ModTime: mtime, HasTime: true})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if !applied.Time {
		t.Errorf("Copy applied %+v, want the time", applied)
	}
	// To the temporary name, renamed over /g once its size is right: /g
	// is never part of a copy.
	want := []string{"SITE CPFR /f", "SITE CPTO /.g.ftpfs-part"}
	if got := f.sent("SITE"); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("SITE commands %q, want %q", got, want)
	}
	if got := f.sent("SIZE"); len(got) != 1 || got[0] != "SIZE /.g.ftpfs-part" {
		t.Errorf("SIZE commands %q, want one of /.g.ftpfs-part", got)
	}
	if got := f.sent("MFMT"); len(got) != 1 || got[0] != "MFMT 20240102030405 /.g.ftpfs-part" {
		t.Errorf("MFMT commands %q", got)
	}
	if got := f.sent("RNTO"); len(got) != 1 || got[0] != "RNTO /g" {
		t.Errorf("RNTO commands %q, want the copy renamed to /g", got)
	}
	f.mu.Lock()
	copied := slices.Clone(f.copied)
	f.mu.Unlock()
	if len(copied) != 1 || copied[0] != "/g" {
		t.Errorf("the server holds copies %q, want /g alone", copied)
	}
	for _, verb := range []string{"RETR", "STOR", "EPRT", "PORT"} {
		if got := f.sent(verb); len(got) != 0 {
			t.Errorf("a copy sent %q", got)
		}
	}

	_, err = p.Copy(ctx, "/f", "/h", 1000, Attrs{})
	if !IsTransient(err) || errors.Is(err, ErrNotSupported) {
		t.Fatalf("Copy with the wrong size = %v, want a transient failure", err)
	}
	if got := f.sent("RNTO"); len(got) != 1 {
		t.Errorf("the copy of the wrong size was renamed over its target: RNTO %q", got)
	}
	f.mu.Lock()
	copied = slices.Clone(f.copied)
	f.mu.Unlock()
	if len(copied) != 1 {
		t.Errorf("the server holds copies %q after the failed one, want its temporary copy removed", copied)
	}
	if got := f.sent("SITE"); len(got) != 4 {
		t.Errorf("SITE commands %q: the failed copy was repeated", got)
	}
	if _, err := p.Copy(ctx, "/missing", "/i", 5, Attrs{}); err == nil || errors.Is(err, ErrNotSupported) {
		t.Errorf("Copy of a missing file = %v, want a failure that is not a refusal", err)
	}
	if _, err := p.Copy(ctx, "/f", "/j", int64(len(fakeContent)), Attrs{}); err != nil {
		t.Errorf("Copy after a failed one: %v", err)
	}
}

// TestCopyRefusedIsLearnt: a server without mod_copy answers SITE CPFR
// with 500; the copy is ErrNotSupported, and later ones send nothing.
func TestCopyRefusedIsLearnt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := copyFake(t, false)
	p := openFake(t, ctx, f, Config{})
	start := time.Now()
	for range 3 {
		_, err := p.Copy(ctx, "/f", "/g", int64(len(fakeContent)), Attrs{})
		if !errors.Is(err, ErrNotSupported) || IsTransient(err) {
			t.Fatalf("Copy = %v, want ErrNotSupported", err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("three refused copies took %v", d)
	}
	if got := f.sent("SITE"); len(got) != 2 {
		t.Errorf("SITE commands %q, want one CPFR and one CPTO (the refusal is learnt)", got)
	}
	if got := f.sent("SIZE"); len(got) != 0 {
		t.Errorf("SIZE sent after a refused copy: %q", got)
	}
}
