package zpath

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// MaxBytes is the longest path accepted, in bytes of UTF-8.
const MaxBytes = 4096

// Reserved is the root of the system subtree. Clients may read it but not
// change anything in it.
const Reserved = "/arbor"

// SequentialDigits is the width of a sequential node's zero-padded suffix.
const SequentialDigits = 10

// Error says why a path is invalid. It matches errcode.BadArguments with
// errors.Is.
type Error struct {
	Path   string
	Reason string
}

func (e *Error) Error() string {
	return "invalid path " + strconv.Quote(e.Path) + ": " + e.Reason
}

// Unwrap returns errcode.BadArguments.
func (e *Error) Unwrap() error { return errcode.BadArguments }

// Validate reports whether p is a valid znode path, returning a *Error that
// says what is wrong if not.
func Validate(p string) error {
	return validate(p, p)
}

// ValidateSequential validates the path given to a sequential create, which
// the server completes with a numeric suffix: "/queue/item-" and "/queue/"
// are both valid prefixes.
func ValidateSequential(prefix string) error {
	return validate(prefix, prefix+"0")
}

func validate(orig, p string) error {
	switch {
	case p == "":
		return &Error{orig, "empty path"}
	case len(orig) > MaxBytes:
		return &Error{orig[:64] + "...", "longer than " + strconv.Itoa(MaxBytes) + " bytes"}
	case p[0] != '/':
		return &Error{orig, "must start with /"}
	case p == "/":
		return nil
	case p[len(p)-1] == '/':
		return &Error{orig, "must not end with /"}
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[segStart:i]
		switch seg {
		case "":
			return &Error{orig, "empty segment at byte " + strconv.Itoa(i)}
		case ".", "..":
			return &Error{orig, "relative segment " + strconv.Quote(seg)}
		}
		if reason := checkSegment(seg); reason != "" {
			return &Error{orig, reason}
		}
		segStart = i + 1
	}
	return nil
}

func checkSegment(seg string) string {
	for i := 0; i < len(seg); {
		r, size := utf8.DecodeRuneInString(seg[i:])
		if r == utf8.RuneError && size <= 1 {
			return "invalid UTF-8 at byte " + strconv.Itoa(i)
		}
		if !allowed(r) {
			return "character " + strconv.QuoteRuneToASCII(r) + " not allowed"
		}
		i += size
	}
	return ""
}

func allowed(r rune) bool {
	switch {
	case r <= 0x1f, r >= 0x7f && r <= 0x9f:
		return false
	case r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
		return false
	}
	return true
}

// Parent returns the parent of a valid path; the parent of "/" is "".
func Parent(p string) string {
	if p == "/" {
		return ""
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// Base returns the last segment of a valid path; the base of "/" is "".
func Base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// Join returns the path of child name under parent.
func Join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// Sequential returns prefix completed with the sequence number n, formatted as
// ZooKeeper does (%010d): Sequential("/q/x-", 7) = "/q/x-0000000007".
func Sequential(prefix string, n int32) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	width := SequentialDigits
	if neg {
		width--
	}
	var b strings.Builder
	b.Grow(len(prefix) + SequentialDigits)
	b.WriteString(prefix)
	if neg {
		b.WriteByte('-')
	}
	for i := len(s); i < width; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
	return b.String()
}

// IsReserved reports whether p is /arbor or lies beneath it.
func IsReserved(p string) bool {
	return IsWithin(p, Reserved)
}

// IsWithin reports whether p is ancestor itself or a descendant of it, by
// segments: "/ab" is not within "/a".
func IsWithin(p, ancestor string) bool {
	if ancestor == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == ancestor || (strings.HasPrefix(p, ancestor) && p[len(ancestor)] == '/')
}
