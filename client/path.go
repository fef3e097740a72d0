package client

import (
	"errors"
	"strings"

	"github.com/arbor-coord/arbor/internal/zpath"
)

// ValidatePath reports whether path is a valid node path, by the rules
// every operation checks before it sends anything: absolute, no trailing
// /, no empty or relative segments, valid UTF-8 without control or
// reserved characters, at most 4096 bytes. If not, it returns an *Error
// (Op "validate path") whose Code is BadArguments and whose Reason says
// what is wrong. Recipes use it to refuse a wrong argument before they
// write anything.
func ValidatePath(path string) error {
	return checkPath("validate path", path)
}

// ValidateName reports whether name is a valid node name: one element of
// a path, as the part after the last / of a valid path. If not, it returns
// an *Error (Op "validate name") whose Code is BadArguments and whose
// Reason says what is wrong.
func ValidateName(name string) error {
	const op = "validate name"
	switch {
	case name == "":
		return badArgs(op, name, "empty name")
	case strings.Contains(name, "/"):
		return badArgs(op, name, "character '/' not allowed")
	}
	if err := zpath.Validate("/" + name); err != nil {
		return badArgs(op, name, reasonOf(err))
	}
	return nil
}

// checkPath validates path for op; the error is an *Error with Code
// BadArguments.
func checkPath(op, path string) error {
	if err := zpath.Validate(path); err != nil {
		return badArgs(op, path, reasonOf(err))
	}
	return nil
}

// reasonOf returns why zpath refused a path.
func reasonOf(err error) string {
	var ze *zpath.Error
	if errors.As(err, &ze) {
		return ze.Reason
	}
	return err.Error()
}
