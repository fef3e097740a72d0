package client

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePathAndName(t *testing.T) {
	tests := []struct {
		fn     func(string) error
		fnName string
		op     string
		in     string
		reason string // "" for valid
	}{
		{ValidatePath, "ValidatePath", "validate path", "/", ""},
		{ValidatePath, "ValidatePath", "validate path", "/a/b-1", ""},
		{ValidatePath, "ValidatePath", "validate path", "", "empty path"},
		{ValidatePath, "ValidatePath", "validate path", "a", "must start with /"},
		{ValidatePath, "ValidatePath", "validate path", "/a/", "must not end with /"},
		{ValidatePath, "ValidatePath", "validate path", "/a//b", "empty segment"},
		{ValidatePath, "ValidatePath", "validate path", "/a/../b", "relative segment"},
		{ValidatePath, "ValidatePath", "validate path", "/a\x00", "not allowed"},
		{ValidatePath, "ValidatePath", "validate path", "/\xff", "invalid UTF-8"},
		{ValidateName, "ValidateName", "validate name", "a", ""},
		{ValidateName, "ValidateName", "validate name", "_c_0123-lock-0000000001", ""},
		{ValidateName, "ValidateName", "validate name", "", "empty name"},
		{ValidateName, "ValidateName", "validate name", "/", "'/' not allowed"},
		{ValidateName, "ValidateName", "validate name", "a/b", "'/' not allowed"},
		{ValidateName, "ValidateName", "validate name", ".", "relative segment"},
		{ValidateName, "ValidateName", "validate name", "..", "relative segment"},
		{ValidateName, "ValidateName", "validate name", "a\n", "not allowed"},
		{ValidateName, "ValidateName", "validate name", "\xff", "invalid UTF-8"},
	}
	for _, tc := range tests {
		err := tc.fn(tc.in)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s(%q) = %v, want nil", tc.fnName, tc.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrBadArguments) {
			t.Errorf("%s(%q) = %v, want an *Error matching ErrBadArguments", tc.fnName, tc.in, err)
			continue
		}
		if e.Op != tc.op || e.Path != tc.in || !strings.Contains(e.Reason, tc.reason) {
			t.Errorf("%s(%q) = %+v, want Op %q, Path %q, a Reason saying %q", tc.fnName, tc.in, *e, tc.op, tc.in, tc.reason)
		}
	}
}
