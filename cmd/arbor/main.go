// Command arbor is arbor's one binary: the server (arbor server), one-shot
// commands against a running cluster (create, get, set, delete, ls, stat,
// watch, tree, sync), an interactive shell, the cluster's administration
// (status, member), and commands that run a program under a recipe (lock,
// elect, barrier). Run "arbor help" for the list.
package main

import "os"

func main() {
	os.Exit(run(os.Args, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}
