package zpath

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/arbor-coord/arbor/internal/errcode"
)

func TestValidate(t *testing.T) {
	valid := []string{
		"/", "/a", "/a/b", "/a.b", "/.a", "/a.", "/...", "/a/..b", "/zookeeper",
		"/ä/ö", "/日本", "/a b", "/a:b-c_d", "/x/" + strings.Repeat("y", 100),
	}
	for _, p := range valid {
		if err := Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", p, err)
		}
	}
	invalid := []string{
		"", "a", "a/b", "//", "/a/", "/a//b", "/.", "/..", "/a/.", "/a/..", "/./a",
		"/../a", "/a\x00b", "/a\x01", "/a\x1f", "/a\x7f", "/a\u0085", "/a\ud7ff\ue000",
		"/a\uf8ff", "/a\ufff0", "/a\uffff", "/😀", "/a\xff", "/a\xc3",
		"/" + strings.Repeat("x", MaxBytes),
	}
	for _, p := range invalid {
		err := Validate(p)
		if err == nil {
			t.Errorf("Validate(%q) = nil, want error", p)
			continue
		}
		if !errors.Is(err, errcode.BadArguments) {
			t.Errorf("Validate(%q) = %v, does not match BadArguments", p, err)
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason == "" {
			t.Errorf("Validate(%q) = %v, want *Error with a reason", p, err)
		}
	}
}

func TestValidateSequential(t *testing.T) {
	for _, p := range []string{"/", "/q/", "/q/item-", "/q"} {
		if err := ValidateSequential(p); err != nil {
			t.Errorf("ValidateSequential(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "q/", "/q//", "/./", "/a/../", "/a\x00"} {
		if err := ValidateSequential(p); err == nil {
			t.Errorf("ValidateSequential(%q) = nil, want error", p)
		}
	}
}

func TestParentBaseJoin(t *testing.T) {
	tests := []struct{ path, parent, base string }{
		{"/", "", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
	}
	for _, tt := range tests {
		if got := Parent(tt.path); got != tt.parent {
			t.Errorf("Parent(%q) = %q, want %q", tt.path, got, tt.parent)
		}
		if got := Base(tt.path); got != tt.base {
			t.Errorf("Base(%q) = %q, want %q", tt.path, got, tt.base)
		}
		if tt.path != "/" {
			if got := Join(tt.parent, tt.base); got != tt.path {
				t.Errorf("Join(%q, %q) = %q", tt.parent, tt.base, got)
			}
		}
	}
}

func TestSequential(t *testing.T) {
	tests := []struct {
		prefix string
		n      int32
		want   string
	}{
		{"/q/x-", 0, "/q/x-0000000000"},
		{"/q/x-", 7, "/q/x-0000000007"},
		{"/q/", 2147483647, "/q/2147483647"},
		{"/q/", -2147483648, "/q/-2147483648"},
		{"/q/", -1, "/q/-000000001"},
	}
	for _, tt := range tests {
		if got := Sequential(tt.prefix, tt.n); got != tt.want {
			t.Errorf("Sequential(%q, %d) = %q, want %q", tt.prefix, tt.n, got, tt.want)
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		p, anc string
		want   bool
	}{
		{"/arbor", "/arbor", true},
		{"/arbor/x", "/arbor", true},
		{"/arbora", "/arbor", false},
		{"/arb", "/arbor", false},
		{"/", "/", true},
		{"/a", "/", true},
	}
	for _, tt := range tests {
		if got := IsWithin(tt.p, tt.anc); got != tt.want {
			t.Errorf("IsWithin(%q, %q) = %v", tt.p, tt.anc, got)
		}
	}
	if !IsReserved("/arbor/config") || IsReserved("/arborist") {
		t.Fatal("IsReserved wrong")
	}
}

// FuzzValidate checks that Validate never panics, that a valid path's
// segments obey the rules, and that Parent/Base/Join round-trip on it.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/../b", "//", "/a\x00", "/😀", "/a/.", "/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := Validate(p)
		if err != nil {
			if !errors.Is(err, errcode.BadArguments) {
				t.Fatalf("Validate(%q) = %v: not BadArguments", p, err)
			}
			return
		}
		if !utf8.ValidString(p) || !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
			t.Fatalf("Validate accepted %q", p)
		}
		if p == "/" {
			return
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("Validate accepted %q with segment %q", p, seg)
			}
		}
		if Join(Parent(p), Base(p)) != p {
			t.Fatalf("Join(Parent, Base) of %q = %q", p, Join(Parent(p), Base(p)))
		}
		if err := Validate(Parent(p)); err != nil {
			t.Fatalf("parent of valid %q is invalid: %v", p, err)
		}
	})
}
