package recipes

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// The shared machinery of the recipes that line contenders up under a
// directory node: unique prefixes, sequence numbers, protected creates and
// waiting for a node to go.

const (
	// protectedTag starts every contender prefix (Curator's protected
	// mode uses the same tag, so tools that know it recognise ours).
	protectedTag = "_c_"
	// seqDigits is the width of the sequence suffix a sequential create
	// appends.
	seqDigits = 10
)

// checkArgs checks the client and the node path a recipe call (op) is
// given, so that a wrong argument is refused before anything is written.
// The error says which call and what is wrong, and matches
// client.ErrBadArguments.
func checkArgs(op string, c *client.Client, path string) error {
	if c == nil {
		return badArg(op, "nil client")
	}
	if err := client.ValidatePath(path); err != nil {
		return badArg(op, fmt.Sprintf("path %q: %s", path, reasonOf(err)))
	}
	return nil
}

// checkNodeArgs is checkArgs for a recipe whose node is path itself, which
// it creates and deletes: the root cannot be that node.
func checkNodeArgs(op string, c *client.Client, path string) error {
	if err := checkArgs(op, c, path); err != nil {
		return err
	}
	if path == "/" {
		return badArg(op, "path \"/\": the root cannot be a recipe's node")
	}
	return nil
}

// checkName says what is wrong with name (what, e.g. "member name") as one
// node name, if anything. Callers say which call.
func checkName(what, name string) error {
	if name == "" {
		return errors.New("empty " + what)
	}
	if err := client.ValidateName(name); err != nil {
		return fmt.Errorf("%s %q: %s", what, name, reasonOf(err))
	}
	return nil
}

// badArg is the error of a wrong argument: it says which call and what is
// wrong, and matches client.ErrBadArguments.
func badArg(op, reason string) error {
	return fmt.Errorf("recipes: %s: %s: %w", op, reason, client.ErrBadArguments)
}

// reasonOf returns the reason the client gave for refusing an argument.
func reasonOf(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Reason != "" {
		return ce.Reason
	}
	return err.Error()
}

// newPrefix returns a contender prefix unique to one recipe value:
// protectedTag, 32 hex digits, "-".
func newPrefix() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on the platforms Go supports.
		panic(fmt.Sprintf("recipes: crypto/rand: %v", err))
	}
	return protectedTag + hex.EncodeToString(b[:]) + "-"
}

// seqOf returns the sequence suffix of a sequential node's name.
func seqOf(name string) (int64, bool) {
	if len(name) < seqDigits {
		return 0, false
	}
	s := name[len(name)-seqDigits:]
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// contender is one child of a recipe directory, in line.
type contender struct {
	name string
	seq  int64
}

// lineUp returns the children whose names contain tag and end in a
// sequence suffix, ordered by sequence (then name, for ties no server
// produces). Other children (left by other tools) are not in line.
func lineUp(children []string, tag string) []contender {
	out := make([]contender, 0, len(children))
	for _, name := range children {
		if !strings.Contains(name, tag) {
			continue
		}
		if seq, ok := seqOf(name); ok {
			out = append(out, contender{name, seq})
		}
	}
	slices.SortFunc(out, func(a, b contender) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), strings.Compare(a.name, b.name))
	})
	return out
}

// indexOf returns the position of name in line, or -1.
func indexOf(line []contender, name string) int {
	return slices.IndexFunc(line, func(c contender) bool { return c.name == name })
}

// createSeq creates a sequential node named prefix+tag under dir with data
// in mode, creating dir if it is missing, and returns its name and Stat (its
// Czxid is a fencing token). If ctx ends while the create is in flight, the
// create may still be applied: createSeq then deletes every node of prefix
// under dir (on a fresh context) before it returns ctx's error.
func createSeq(ctx context.Context, c *client.Client, dir, prefix, tag string, data []byte, mode client.Mode) (string, client.Stat, error) {
	for {
		res, err := c.Multi(ctx, client.CreateOp(znode.Join(dir, prefix+tag), data, client.WithMode(mode)))
		if err == nil {
			return znode.Base(res[0].Path), res[0].Stat, nil
		}
		if errors.Is(err, client.ErrNoNode) {
			// The directory is missing (never made, or a container
			// reaped): make it and try again.
			if err := znode.EnsureDir(ctx, c, dir); err != nil {
				return "", client.Stat{}, err
			}
			continue
		}
		if ctx.Err() != nil {
			znode.Cleanup(ctx, c, func(ctx context.Context) error { return deleteOwn(ctx, c, dir, prefix) })
		}
		return "", client.Stat{}, err
	}
}

// findOwn returns the names of dir's children that start with prefix,
// ordered by sequence.
func findOwn(ctx context.Context, c *client.Client, dir, prefix string) ([]contender, error) {
	children, _, err := c.Children(ctx, dir)
	if errors.Is(err, client.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var own []string
	for _, name := range children {
		if strings.HasPrefix(name, prefix) {
			own = append(own, name)
		}
	}
	return lineUp(own, ""), nil
}

// deleteOwn deletes every child of dir that starts with prefix. It syncs
// first, so that a create of ours still in flight is applied (or refused)
// before the listing.
func deleteOwn(ctx context.Context, c *client.Client, dir, prefix string) error {
	if err := c.Sync(ctx, dir); err != nil {
		return err
	}
	own, err := findOwn(ctx, c, dir, prefix)
	if err != nil {
		return err
	}
	for _, o := range own {
		if err := c.Delete(ctx, znode.Join(dir, o.name), -1); err != nil && !errors.Is(err, client.ErrNoNode) {
			return err
		}
	}
	return nil
}

// waitGone waits until the node at path is deleted. It returns nil once it
// is gone (or if it never existed), the context's error, or the session's.
// It watches with GetW, which sets no watch on a missing node, so that
// waiting leaves no watch behind on a name that will never be created.
func waitGone(ctx context.Context, c *client.Client, path string) error {
	for {
		_, _, ch, err := c.GetW(ctx, path)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case ev, ok := <-ch:
			if ok && ev.Type == client.EventNodeDeleted {
				return nil
			}
			// A data change, or the channel closed without an event
			// (the session ended, or RemoveWatches): look again.
			if err := c.Err(); err != nil {
				return err
			}
		case <-ctx.Done():
			// Take the watch back rather than leave it until the node
			// goes. Another waiter of this client on the same path
			// sees its channel closed and looks again.
			znode.Cleanup(ctx, c, func(ctx context.Context) error { return c.RemoveWatches(ctx, path, client.WatchData) })
			return ctx.Err()
		}
	}
}
