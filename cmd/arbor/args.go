package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed returns args with the flags that follow a command's
// arguments moved before them ("create /a x --ephemeral" becomes
// "create --ephemeral /a x"), because urfave/cli/v2, like package flag,
// stops at the first argument. Whether a flag takes a value comes from
// the command's own flag definitions. A "--" is put before the arguments
// when one of them looks like a flag ("set /a -- -1"), and an explicit
// "--" ends the flags as usual.
func interspersed(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	i := 1 + skipFlags(app.Flags, args[1:])
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	var flags, rest []string
	tail := args[i+1:]
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		switch {
		case a == "--":
			rest = append(rest, tail[j+1:]...)
			j = len(tail)
		case isFlag(a):
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && j+1 < len(tail) {
				j++
				flags = append(flags, tail[j])
			}
		default:
			rest = append(rest, a)
		}
	}
	out := append(append([]string{}, args[:i+1]...), flags...)
	for _, a := range rest {
		if isFlag(a) {
			out = append(out, "--")
			break
		}
	}
	return append(out, rest...)
}

// skipFlags returns how many of args are flags (with their values) of
// defs, before the first argument.
func skipFlags(defs []cli.Flag, args []string) int {
	n := 0
	for n < len(args) && isFlag(args[n]) {
		if args[n] == "--" {
			return n
		}
		if takesValue(defs, args[n]) {
			n++
		}
		n++
	}
	return min(n, len(args))
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether a, a flag without "=value", is one of defs
// that takes a value. Unknown flags take none: parsing reports them.
func takesValue(defs []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				v, ok := f.(cli.DocGenerationFlag)
				return ok && v.TakesValue()
			}
		}
	}
	return false
}
