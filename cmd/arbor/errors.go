package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/errcode"
)

// usageError is a mistake in the command line; nothing was done.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// report writes err as one line ("arbor: ...") and returns the exit status.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var r reported
	if errors.As(err, &r) {
		return r.status
	}
	fmt.Fprintf(w, "arbor: %s\n", oneLine(err.Error()))
	var ue *usageError
	var ce *configError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitError
}

// oneLine keeps a report on one line (joined errors have several).
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// reported is an error already reported; it carries the exit status only.
type reported struct{ status int }

func (r reported) Error() string { return fmt.Sprintf("exit status %d", r.status) }

// opError is a failed operation on a node, reported as "OP PATH: CODE",
// e.g. "get /x: NoNode". The path is the node the member named, if any
// (a child's, in a recursive command), else the command's.
type opError struct {
	op, path string
	err      error
}

func (e *opError) Error() string {
	path := e.path
	var ce *client.Error
	var code errcode.Code
	var what string
	switch {
	case errors.As(e.err, &ce):
		if ce.Path != "" {
			path = ce.Path
		}
		what = ce.Code.Name()
		if ce.Reason != "" {
			what += " (" + ce.Reason + ")"
		}
	case errors.As(e.err, &code):
		what = code.Name()
	case errors.Is(e.err, context.DeadlineExceeded):
		what = "timed out (see --timeout)"
	case errors.Is(e.err, context.Canceled):
		what = "interrupted"
	default:
		what = e.err.Error()
	}
	if path == "" {
		return e.op + ": " + what
	}
	return e.op + " " + path + ": " + what
}

func (e *opError) Unwrap() error { return e.err }
