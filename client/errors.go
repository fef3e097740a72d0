package client

import (
	"errors"
	"fmt"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// Error is an operation's failure as the member (or the client, for bad
// arguments and the session's end) reports it. It unwraps to its Code, so
// errors.Is(err, ErrNoNode) matches.
type Error struct {
	// Op is the operation, e.g. "create".
	Op string
	// Path is the node the operation was about ("" for none).
	Path string
	// Code is the result code.
	Code errcode.Code
	// Reason is an optional detail, e.g. why a path is invalid.
	Reason string
}

// Error returns "arbor: OP PATH: DESCRIPTION".
func (e *Error) Error() string {
	s := "arbor: " + e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	s += ": " + e.Code.Error()
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// Unwrap returns the code, so errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Code }

// The codes an application is expected to handle, for errors.Is. Each is an
// errcode.Code; any other code can be matched through (*Error).Code.
const (
	ErrNoNode                  = errcode.NoNode
	ErrNodeExists              = errcode.NodeExists
	ErrBadVersion              = errcode.BadVersion
	ErrNotEmpty                = errcode.NotEmpty
	ErrNoAuth                  = errcode.NoAuth
	ErrNoChildrenForEphemerals = errcode.NoChildrenForEphemerals
	ErrInvalidACL              = errcode.InvalidACL
	ErrAuthFailed              = errcode.AuthFailed
	ErrBadArguments            = errcode.BadArguments
	ErrSessionExpired          = errcode.SessionExpired
	ErrConnectionLoss          = errcode.ConnectionLoss
	ErrOperationTimeout        = errcode.OperationTimeout
	ErrThrottled               = errcode.Throttled
	ErrNoWatcher               = errcode.NoWatcher
	ErrRuntimeInconsistency    = errcode.RuntimeInconsistency
)

// ErrClosed is returned by operations on a Client after Close.
var ErrClosed = errors.New("arbor: client closed")

// opError wraps err (a code, ErrClosed or a context error) with op and path.
func opError(op, path string, err error) error {
	var code errcode.Code
	if errors.As(err, &code) {
		return &Error{Op: op, Path: path, Code: code}
	}
	if path != "" {
		return fmt.Errorf("arbor: %s %s: %w", op, path, err)
	}
	return fmt.Errorf("arbor: %s: %w", op, err)
}
