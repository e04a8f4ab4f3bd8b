package contentcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ftpfs/ftpfs/internal/ranges"
)

// sidecarFormat is the version of the sidecar encoding; a sidecar of
// another format is dropped with its data at Open.
const sidecarFormat = 1

// Suffixes of the files in a cache directory.
const (
	metaSuffix = ".meta"
	dataSuffix = ".data"
	tmpSuffix  = ".tmp"
	lockName   = "lock"
)

// sidecar is what a .meta file holds.
type sidecar struct {
	Format int        `json:"format"`
	Path   string     `json:"path"`             // the server path
	Size   int64      `json:"size"`             // the version: size and time as listed
	MTime  time.Time  `json:"mtime"`            // UTC
	Unique string     `json:"unique,omitempty"` // MLSD's unique fact, if listed
	Data   string     `json:"data"`             // base name of the data file
	Ranges [][2]int64 `json:"ranges"`
	Used   time.Time  `json:"used"` // last read or written, for LRU order
}

// keyOf names the sidecar of a server path: a hash, so that any path
// makes a short, safe file name.
func keyOf(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:16])
}

// encodeSidecar renders e's state.
func encodeSidecar(s sidecar) ([]byte, error) {
	s.Format = sidecarFormat
	return json.Marshal(s)
}

// decodeSidecar parses a sidecar and checks it: its format, a data file
// name of its own key, ranges within the size, sorted and apart.
func decodeSidecar(b []byte, key string) (sidecar, ranges.Set, error) {
	var s sidecar
	var set ranges.Set
	if err := json.Unmarshal(b, &s); err != nil {
		return s, set, fmt.Errorf("sidecar: %w", err)
	}
	switch {
	case s.Format != sidecarFormat:
		return s, set, fmt.Errorf("sidecar: format %d, want %d", s.Format, sidecarFormat)
	case keyOf(s.Path) != key:
		return s, set, errors.New("sidecar: its path does not hash to its name")
	case !strings.HasPrefix(s.Data, key+"-") || !strings.HasSuffix(s.Data, dataSuffix) || strings.ContainsRune(s.Data, '/'):
		return s, set, fmt.Errorf("sidecar: data file %q is not one of its own", s.Data)
	case s.Size < 0:
		return s, set, fmt.Errorf("sidecar: size %d", s.Size)
	}
	prev := int64(-1)
	for _, r := range s.Ranges {
		if r[0] <= prev || r[0] >= r[1] || r[1] > s.Size {
			return s, set, fmt.Errorf("sidecar: range %v out of order, empty or past the size %d", r, s.Size)
		}
		set.Add(r[0], r[1])
		prev = r[1]
	}
	return s, set, nil
}

// rangesOf lists set's ranges for a sidecar.
func rangesOf(set *ranges.Set) [][2]int64 {
	rs := set.Ranges()
	out := make([][2]int64, len(rs))
	for i, r := range rs {
		out[i] = [2]int64{r.Off, r.End}
	}
	return out
}

// writeSidecar writes s as dir/key.meta, by a temporary file renamed over
// it: a reader sees the old sidecar or the new one, never part of one.
func writeSidecar(dir, key string, s sidecar) error {
	b, err := encodeSidecar(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, key+metaSuffix+tmpSuffix)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write sidecar of %s: %w", s.Path, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, key+metaSuffix)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write sidecar of %s: %w", s.Path, err)
	}
	return nil
}
