package session

import (
	"errors"
	"testing"
)

func TestIDs(t *testing.T) {
	// Each seed is above the counters issued before it, as NewIDs requires.
	seen := map[int64]bool{}
	for _, member := range []uint64{1, 2, 77, MaxMember} {
		for _, seed := range []uint64{0, 3, 1_763_794_864_000, counterMask - 3} {
			g, err := NewIDs(member, seed)
			if err != nil {
				t.Fatalf("NewIDs(%d, %d): %v", member, seed, err)
			}
			for i := range 3 {
				id, err := g.Next()
				if err != nil {
					t.Fatalf("member %d seed %d: Next: %v", member, seed, err)
				}
				if id <= 0 {
					t.Fatalf("member %d seed %d: id %#x is not positive", member, seed, id)
				}
				if m, c := SplitID(id); m != member || c != seed+uint64(i) {
					t.Fatalf("SplitID(%#x) = %d, %d; want %d, %d", id, m, c, member, seed+uint64(i))
				}
				if seen[id] {
					t.Fatalf("id %#x issued twice", id)
				}
				seen[id] = true
			}
		}
	}
}

func TestIDsExhausted(t *testing.T) {
	g, err := NewIDs(MaxMember, counterMask)
	if err != nil {
		t.Fatal(err)
	}
	id, err := g.Next()
	if err != nil || id != 1<<63-1 {
		t.Fatalf("last id: %#x, %v; want %#x", id, err, int64(1<<63-1))
	}
	for range 2 {
		if _, err := g.Next(); !errors.Is(err, ErrIDsExhausted) {
			t.Fatalf("Next after the last id: %v, want ErrIDsExhausted", err)
		}
	}
}

func TestNewIDsRejects(t *testing.T) {
	for _, tc := range []struct{ member, seed uint64 }{
		{0, 1},
		{MaxMember + 1, 1},
		{1 << 63, 1},
		{1, counterMask + 1},
	} {
		if _, err := NewIDs(tc.member, tc.seed); err == nil {
			t.Errorf("NewIDs(%d, %d) accepted", tc.member, tc.seed)
		}
	}
}
