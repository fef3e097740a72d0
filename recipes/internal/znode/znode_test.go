package znode

import "testing"

func TestJoinBase(t *testing.T) {
	for _, tc := range []struct{ dir, name, path string }{
		{"/", "a", "/a"},
		{"/a", "b", "/a/b"},
		{"/a/b", "c-0000000001", "/a/b/c-0000000001"},
	} {
		if got := Join(tc.dir, tc.name); got != tc.path {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.path)
		}
		if got := Base(tc.path); got != tc.name {
			t.Errorf("Base(%q) = %q, want %q", tc.path, got, tc.name)
		}
	}
}
