package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cmptable:", err)
		os.Exit(1)
	}
}

// run reads the named files (standard input if none) and writes the tables.
func run(args []string, stdin io.Reader, stdout io.Writer) error {
	var in input
	if len(args) == 0 {
		if err := in.read("stdin", stdin); err != nil {
			return err
		}
	}
	for _, name := range args {
		if len(name) > 0 && name[0] == '-' {
			return fmt.Errorf("unknown flag %q: cmptable takes only file names (usage: cmptable [FILE ...])", name)
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = in.read(name, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	w := bufio.NewWriter(stdout)
	render(w, &in)
	return w.Flush()
}
