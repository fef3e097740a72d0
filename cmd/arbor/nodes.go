package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// maxStdinBytes bounds DATA read from stdin: the largest data any member
// accepts (server.Config.MaxDataBytes is at most 4 MiB).
const maxStdinBytes = 4 << 20

// maxDeleteAttempts bounds how often delete --recursive lists a node again
// when others keep adding children to it.
const maxDeleteAttempts = 5

// nodeCommands are the commands on nodes. The shell runs the same ones.
func nodeCommands(e *env) []*cli.Command {
	versionFlag := func() cli.Flag {
		return &cli.IntFlag{Name: "version", Usage: "act only if the node's version is `N` (-1: any)", Value: -1}
	}
	return []*cli.Command{
		{
			Name: "create", Usage: "create a node and print its path", ArgsUsage: "PATH [DATA]",
			Description: "DATA of - reads stdin. With --sequential, PATH is a prefix the member completes with a 10-digit counter.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "ephemeral", Aliases: []string{"e"}, Usage: "delete the node when the session ends (a one-shot command's session ends when it exits)"},
				&cli.BoolFlag{Name: "sequential", Aliases: []string{"s"}, Usage: "append a sequence number to PATH"},
				&cli.BoolFlag{Name: "container", Aliases: []string{"c"}, Usage: "a container: deleted once its last child is"},
				&cli.DurationFlag{Name: "ttl", Usage: "a persistent node deleted when it has had no child and no change for `D`"},
				&cli.BoolFlag{Name: "parents", Aliases: []string{"p"}, Usage: "create missing ancestors (persistent, empty)"},
			},
			Action: e.create,
		},
		{
			Name: "get", Usage: "print a node's data as is", ArgsUsage: "PATH",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "stat", Usage: "print the node's Stat after the data"}},
			Action: e.get,
		},
		{
			Name: "set", Usage: "replace a node's data", ArgsUsage: "PATH DATA",
			Description: "DATA of - reads stdin.",
			Flags:       []cli.Flag{versionFlag()},
			Action:      e.set,
		},
		{
			Name: "delete", Usage: "delete a node", ArgsUsage: "PATH",
			Flags: []cli.Flag{
				versionFlag(),
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "delete the node and everything below it, children first"},
			},
			Action: e.delete,
		},
		{
			Name: "ls", Usage: "list a node's children, one name a line, sorted", ArgsUsage: "PATH",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "stat", Usage: "print the node's Stat after the list"},
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "list the full paths of all descendants, depth first"},
			},
			Action: e.ls,
		},
		{Name: "stat", Usage: "print a node's Stat", ArgsUsage: "PATH", Action: e.stat},
		{
			Name: "watch", Usage: "print a node's events as they happen: TYPE PATH ZXID", ArgsUsage: "PATH",
			Description: "A persistent watch on PATH (the node need not exist); with --recursive, on PATH and every node below it.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "watch every node below PATH too"},
				&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Usage: "exit after `N` events (0: until interrupted)"},
			},
			Action: e.watch,
		},
		{Name: "tree", Usage: "print a subtree, indented", ArgsUsage: "PATH", Action: e.tree},
		{Name: "sync", Usage: "bring the member up to the leader's commit point, so the next read is current", ArgsUsage: "PATH", Action: e.sync},
	}
}

// wantArgs returns the command's arguments if there are lo to hi of them,
// with the first, a path, valid.
func wantArgs(c *cli.Context, lo, hi int) ([]string, error) {
	a := c.Args().Slice()
	if len(a) < lo || len(a) > hi {
		return nil, usagef("%s: want %s, got %d argument(s) (see arbor help %s)", c.Command.Name, c.Command.ArgsUsage, len(a), c.Command.Name)
	}
	return a, nil
}

func checkPath(c *cli.Context, p string) error {
	if err := zpath.Validate(p); err != nil {
		return usagef("%s: %v", c.Command.Name, err)
	}
	return nil
}

// pathArg returns the one argument, a valid path.
func pathArg(c *cli.Context) (string, error) {
	a, err := wantArgs(c, 1, 1)
	if err != nil {
		return "", err
	}
	return a[0], checkPath(c, a[0])
}

func versionArg(c *cli.Context) (int32, error) {
	v := c.Int("version")
	if v < -1 || v > math.MaxInt32 {
		return 0, usagef("%s: --version %d: want -1 (any) or 0 to %d", c.Command.Name, v, math.MaxInt32)
	}
	return int32(v), nil
}

func jsonOutput(c *cli.Context) bool { return c.String("output") == "json" }

// data returns DATA: the argument itself, or stdin for "-".
func (e *env) data(arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	if e.stdin == nil {
		return nil, usagef("DATA - (stdin) is not available in the shell")
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxStdinBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading DATA from stdin: %w", err)
	}
	if len(b) > maxStdinBytes {
		return nil, usagef("DATA from stdin is larger than %d bytes", maxStdinBytes)
	}
	return b, nil
}

// createMode is the mode the create flags ask for, or why they conflict.
func createMode(ephemeral, sequential, container, ttlSet bool, ttl time.Duration) (client.Mode, error) {
	switch {
	case container && ephemeral:
		return 0, usagef("create: --container cannot be combined with --ephemeral")
	case container && sequential:
		return 0, usagef("create: --container cannot be combined with --sequential")
	case ttlSet && (ephemeral || container):
		return 0, usagef("create: --ttl applies to persistent nodes only, not with --ephemeral or --container")
	case ttlSet && ttl <= 0:
		return 0, usagef("create: --ttl %v: want a positive duration", ttl)
	case container:
		return client.ModeContainer, nil
	case ttlSet && sequential:
		return client.ModePersistentSequentialTTL, nil
	case ttlSet:
		return client.ModePersistentTTL, nil
	case ephemeral && sequential:
		return client.ModeEphemeralSequential, nil
	case ephemeral:
		return client.ModeEphemeral, nil
	case sequential:
		return client.ModePersistentSequential, nil
	}
	return client.ModePersistent, nil
}

func (e *env) create(c *cli.Context) error {
	a, err := wantArgs(c, 1, 2)
	if err != nil {
		return err
	}
	path := a[0]
	mode, err := createMode(c.Bool("ephemeral"), c.Bool("sequential"), c.Bool("container"), c.IsSet("ttl"), c.Duration("ttl"))
	if err != nil {
		return err
	}
	if c.Bool("sequential") {
		err = zpath.ValidateSequential(path)
	} else {
		err = zpath.Validate(path)
	}
	if err != nil {
		return usagef("create: %v", err)
	}
	var data []byte
	if len(a) == 2 {
		if data, err = e.data(a[1]); err != nil {
			return err
		}
	}
	opts := []client.CreateOption{client.WithMode(mode)}
	if c.IsSet("ttl") {
		opts = append(opts, client.WithTTL(c.Duration("ttl")))
	}
	if c.Bool("parents") {
		opts = append(opts, client.WithParents())
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		created, err := cl.Create(ctx, path, data, opts...)
		if err != nil {
			return &opError{op: "create", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, struct {
				Path string `json:"path"`
			}{created})
		}
		_, err = fmt.Fprintln(e.stdout, created)
		return err
	})
}

func (e *env) get(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		data, st, err := cl.Get(ctx, path)
		if err != nil {
			return &opError{op: "get", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, struct {
				Path string `json:"path"`
				dataJSON
				Stat *statJSON `json:"stat"`
			}{path, toDataJSON(data), statToJSON(st)})
		}
		if _, err := e.stdout.Write(data); err != nil {
			return err
		}
		// As is, but for a line end before what follows: the stat, or
		// the shell's next prompt.
		if (c.Bool("stat") || e.shared != nil) && len(data) > 0 && data[len(data)-1] != '\n' {
			fmt.Fprintln(e.stdout)
		}
		if c.Bool("stat") {
			return writeStat(e.stdout, st)
		}
		return nil
	})
}

func (e *env) set(c *cli.Context) error {
	a, err := wantArgs(c, 2, 2)
	if err != nil {
		return err
	}
	path := a[0]
	if err := checkPath(c, path); err != nil {
		return err
	}
	version, err := versionArg(c)
	if err != nil {
		return err
	}
	data, err := e.data(a[1])
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		st, err := cl.Set(ctx, path, data, version)
		if err != nil {
			return &opError{op: "set", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, pathStat{path, statToJSON(st)})
		}
		return nil
	})
}

type pathStat struct {
	Path string    `json:"path"`
	Stat *statJSON `json:"stat"`
}

func (e *env) delete(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	version, err := versionArg(c)
	if err != nil {
		return err
	}
	recursive := c.Bool("recursive")
	if recursive && c.IsSet("version") {
		return usagef("delete: --version cannot be combined with --recursive")
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		if recursive {
			err = deleteTree(ctx, cl, path)
		} else {
			err = cl.Delete(ctx, path, version)
		}
		if err != nil {
			return &opError{op: "delete", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, struct {
				Path string `json:"path"`
			}{path})
		}
		return nil
	})
}

// deleteTree deletes path and everything below it, children first. A node
// that others delete meanwhile is fine; the one error of that kind is
// path itself missing at the start. Of "/" it deletes all but the root and
// the reserved subtree, which cannot be deleted.
func deleteTree(ctx context.Context, cl *client.Client, path string) error {
	for attempt := 1; ; attempt++ {
		children, _, err := cl.Children(ctx, path)
		if err != nil {
			return err
		}
		for _, name := range children {
			child := zpath.Join(path, name)
			if zpath.IsReserved(child) {
				continue
			}
			if err := deleteTree(ctx, cl, child); err != nil && !errors.Is(err, client.ErrNoNode) {
				return err
			}
		}
		if path == "/" {
			return nil
		}
		err = cl.Delete(ctx, path, -1)
		switch {
		case errors.Is(err, client.ErrNoNode):
			return nil
		case errors.Is(err, client.ErrNotEmpty) && attempt < maxDeleteAttempts:
			continue // a child was added meanwhile
		}
		return err
	}
}

func (e *env) ls(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		var names []string
		var st client.Stat
		if c.Bool("recursive") {
			err = walk(ctx, cl, path, 0, func(p string, _ int) { names = append(names, p) })
			if err == nil && c.Bool("stat") {
				st, err = cl.Exists(ctx, path)
			}
		} else {
			names, st, err = cl.Children(ctx, path)
		}
		if err != nil {
			return &opError{op: "ls", path: path, err: err}
		}
		if jsonOutput(c) {
			if names == nil {
				names = []string{}
			}
			doc := lsJSON{Path: path, Children: &names}
			if c.Bool("recursive") {
				doc.Children, doc.Descendants = nil, &names
			}
			if c.Bool("stat") {
				doc.Stat = statToJSON(st)
			}
			return writeJSON(e.stdout, doc)
		}
		for _, n := range names {
			fmt.Fprintln(e.stdout, n)
		}
		if c.Bool("stat") {
			return writeStat(e.stdout, st)
		}
		return nil
	})
}

// lsJSON is ls in JSON: children are names, descendants (--recursive) are
// full paths.
type lsJSON struct {
	Path        string    `json:"path"`
	Children    *[]string `json:"children,omitempty"`
	Descendants *[]string `json:"descendants,omitempty"`
	Stat        *statJSON `json:"stat,omitempty"`
}

// walk calls fn with each node below root and its depth (root's children
// are at depth+1), depth first, children in sorted order. A descendant
// deleted meanwhile is skipped; root missing is an error.
func walk(ctx context.Context, cl *client.Client, root string, depth int, fn func(path string, depth int)) error {
	children, _, err := cl.Children(ctx, root)
	if err != nil {
		return err
	}
	for _, name := range children {
		p := zpath.Join(root, name)
		fn(p, depth+1)
		if err := walk(ctx, cl, p, depth+1, fn); err != nil && !errors.Is(err, client.ErrNoNode) {
			return err
		}
	}
	return nil
}

func (e *env) stat(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		st, err := cl.Exists(ctx, path)
		if err != nil {
			return &opError{op: "stat", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, pathStat{path, statToJSON(st)})
		}
		return writeStat(e.stdout, st)
	})
}

// treeNode is a subtree in JSON.
type treeNode struct {
	Path     string      `json:"path"`
	Children []*treeNode `json:"children"`
}

func (e *env) tree(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		root := &treeNode{Path: path, Children: []*treeNode{}}
		stack := []*treeNode{root} // stack[d] is the last node seen at depth d
		err := walk(ctx, cl, path, 0, func(p string, depth int) {
			n := &treeNode{Path: p, Children: []*treeNode{}}
			parent := stack[depth-1]
			parent.Children = append(parent.Children, n)
			stack = append(stack[:depth], n)
		})
		if err != nil {
			return &opError{op: "tree", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, root)
		}
		fmt.Fprintln(e.stdout, path)
		var print func(n *treeNode, depth int)
		print = func(n *treeNode, depth int) {
			for _, ch := range n.Children {
				fmt.Fprintf(e.stdout, "%*s%s\n", 2*depth, "", zpath.Base(ch.Path))
				print(ch, depth+1)
			}
		}
		print(root, 1)
		return nil
	})
}

func (e *env) sync(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	return e.withSession(c, false, func(ctx context.Context, cl *client.Client) error {
		if err := cl.Sync(ctx, path); err != nil {
			return &opError{op: "sync", path: path, err: err}
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, struct {
				Path string `json:"path"`
			}{path})
		}
		return nil
	})
}

// eventJSON is a watch event in JSON.
type eventJSON struct {
	Type    string `json:"type"`
	Path    string `json:"path"`
	Zxid    uint64 `json:"zxid"`
	CatchUp bool   `json:"catch_up,omitempty"`
}

func (e *env) watch(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	count := c.Int("count")
	if count < 0 {
		return usagef("watch: --count %d: want 0 (until interrupted) or more", count)
	}
	recursive := c.Bool("recursive")
	return e.withSession(c, true, func(ctx context.Context, cl *client.Client) error {
		addCtx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
		w, err := cl.AddWatch(addCtx, path, recursive)
		cancel()
		if err != nil {
			return &opError{op: "watch", path: path, err: err}
		}
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			defer cancel()
			_ = w.Close(closeCtx) // the session's end (one-shot) or the shell's next command makes up for a failure
		}()
		for seen := 0; count == 0 || seen < count; seen++ {
			select {
			case <-ctx.Done():
				return nil // interrupted: the way a watch without --count ends
			case ev, ok := <-w.Events():
				if !ok {
					err := w.Err()
					if err == nil {
						err = cl.Err()
					}
					if err == nil {
						return nil
					}
					return &opError{op: "watch", path: path, err: err}
				}
				if jsonOutput(c) {
					err = writeJSON(e.stdout, eventJSON{ev.Type.String(), ev.Path, ev.Zxid, ev.CatchUp})
				} else {
					_, err = fmt.Fprintf(e.stdout, "%s %s %d\n", ev.Type, ev.Path, ev.Zxid)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}
