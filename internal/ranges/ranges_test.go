package ranges

import (
	"math/rand"
	"reflect"
	"testing"
)

func TestAdd(t *testing.T) {
	cases := []struct {
		name string
		add  []Range
		want []Range
	}{
		{"empty range adds nothing", []Range{{5, 5}, {7, 3}}, nil},
		{"one", []Range{{0, 10}}, []Range{{0, 10}}},
		{"disjoint, out of order", []Range{{20, 30}, {0, 10}}, []Range{{0, 10}, {20, 30}}},
		{"touching merge", []Range{{0, 10}, {10, 20}}, []Range{{0, 20}}},
		{"touching on the left", []Range{{10, 20}, {0, 10}}, []Range{{0, 20}}},
		{"overlap", []Range{{0, 10}, {5, 15}}, []Range{{0, 15}}},
		{"inside", []Range{{0, 100}, {10, 20}}, []Range{{0, 100}}},
		{"covers several", []Range{{0, 5}, {10, 15}, {20, 25}, {3, 22}}, []Range{{0, 25}}},
		{"bridges two", []Range{{0, 5}, {10, 15}, {5, 10}}, []Range{{0, 15}}},
		{"between, apart", []Range{{0, 5}, {20, 25}, {10, 15}}, []Range{{0, 5}, {10, 15}, {20, 25}}},
	}
	for _, c := range cases {
		var s Set
		for _, r := range c.add {
			s.Add(r.Off, r.End)
			if err := s.Check(); err != nil {
				t.Fatalf("%s: after %v: %v", c.name, r, err)
			}
		}
		if got := s.Ranges(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestGaps(t *testing.T) {
	var s Set
	s.Add(10, 20)
	s.Add(30, 40)
	cases := []struct {
		off, end int64
		want     []Range
	}{
		{0, 50, []Range{{0, 10}, {20, 30}, {40, 50}}},
		{10, 20, nil},
		{12, 18, nil},
		{5, 15, []Range{{5, 10}}},
		{15, 35, []Range{{20, 30}}},
		{20, 30, []Range{{20, 30}}},
		{40, 45, []Range{{40, 45}}},
		{45, 40, nil},
		{0, 10, []Range{{0, 10}}},
	}
	for _, c := range cases {
		if got := s.Gaps(c.off, c.end); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Gaps(%d, %d) = %v, want %v", c.off, c.end, got, c.want)
		}
	}
}

func TestCoversAndBytes(t *testing.T) {
	var s Set
	s.Add(10, 20)
	s.Add(30, 40)
	cases := []struct {
		off, end int64
		want     bool
	}{
		{10, 20, true},
		{12, 18, true},
		{10, 21, false},
		{9, 20, false},
		{15, 35, false},
		{20, 30, false},
		{0, 5, false},
		{40, 41, false},
		{35, 40, true},
		{25, 25, true}, // empty
		{30, 10, true}, // inverted
	}
	for _, c := range cases {
		if got := s.Covers(c.off, c.end); got != c.want {
			t.Errorf("Covers(%d, %d) = %v, want %v", c.off, c.end, got, c.want)
		}
	}
	if got := s.Bytes(); got != 20 {
		t.Errorf("Bytes() = %d, want 20", got)
	}
	var empty Set
	if empty.Covers(0, 1) || !empty.Covers(3, 3) || empty.Bytes() != 0 {
		t.Errorf("the empty set: Covers(0, 1) %v, Covers(3, 3) %v, Bytes %d", empty.Covers(0, 1), empty.Covers(3, 3), empty.Bytes())
	}
}

// TestAgainstBitmap adds seeded random ranges and compares the set and its
// gaps with a bitmap after every step.
func TestAgainstBitmap(t *testing.T) {
	const size = 200
	for seed := int64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var s Set
		var bits [size]bool
		for step := 0; step < 40; step++ {
			off := rng.Int63n(size)
			end := off + rng.Int63n(size-off+1)
			s.Add(off, end)
			for i := off; i < end; i++ {
				bits[i] = true
			}
			if err := s.Check(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			var in [size]bool
			for _, r := range s.Ranges() {
				for i := r.Off; i < r.End; i++ {
					in[i] = true
				}
			}
			if in != bits {
				t.Fatalf("seed %d step %d: set %v differs from the bitmap", seed, step, s.Ranges())
			}
			qo := rng.Int63n(size)
			qe := qo + rng.Int63n(size-qo+1)
			var gap [size]bool
			for _, g := range s.Gaps(qo, qe) {
				if g.Off >= g.End || g.Off < qo || g.End > qe {
					t.Fatalf("seed %d: gap %v outside [%d, %d) or empty", seed, g, qo, qe)
				}
				for i := g.Off; i < g.End; i++ {
					gap[i] = true
				}
			}
			covered := true
			for i := qo; i < qe; i++ {
				covered = covered && bits[i]
			}
			if got := s.Covers(qo, qe); got != covered {
				t.Fatalf("seed %d step %d: Covers(%d, %d) = %v, want %v", seed, step, qo, qe, got, covered)
			}
			for i := int64(0); i < size; i++ {
				if want := i >= qo && i < qe && !bits[i]; gap[i] != want {
					t.Fatalf("seed %d step %d: Gaps(%d, %d) byte %d: %v, want %v", seed, step, qo, qe, i, gap[i], want)
				}
			}
		}
	}
}
