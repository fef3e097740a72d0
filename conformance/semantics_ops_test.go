package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// seqSuffix matches the suffix of a sequential node's name: 10 digits,
// after the prefix the create was given.
var seqSuffix = regexp.MustCompile(`^[0-9]{10}$`)

// TestSemanticsOpsCreateModes creates a node in every mode and checks the
// path returned, the new node's Stat, and the parent's Stat.
func TestSemanticsOpsCreateModes(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)

	modes := []struct {
		name       string
		opts       []client.CreateOption
		sequential bool
		ephemeral  bool
	}{
		{"Persistent", nil, false, false},
		{"Ephemeral", []client.CreateOption{client.WithMode(client.ModeEphemeral)}, false, true},
		{"PersistentSequential", []client.CreateOption{client.WithMode(client.ModePersistentSequential)}, true, false},
		{"EphemeralSequential", []client.CreateOption{client.WithMode(client.ModeEphemeralSequential)}, true, true},
		{"Container", []client.CreateOption{client.WithMode(client.ModeContainer)}, false, false},
		{"PersistentTTL", []client.CreateOption{client.WithMode(client.ModePersistentTTL), client.WithTTL(time.Hour)}, false, false},
		{"PersistentSequentialTTL", []client.CreateOption{client.WithMode(client.ModePersistentSequentialTTL), client.WithTTL(time.Hour)}, true, false},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			parent := mustCreate(t, c, root+"/"+m.name, nil)
			before := mustStat(t, c, parent)
			data := []byte("data of " + m.name)
			p, err := c.Create(ctxT(t), parent+"/n-", data, m.opts...)
			mustOK(t, err, "create")
			if m.sequential {
				if !strings.HasPrefix(p, parent+"/n-") || !seqSuffix.MatchString(strings.TrimPrefix(p, parent+"/n-")) {
					t.Fatalf("sequential create returned %q, want %s/n- and 10 digits", p, parent)
				}
				if want := parent + "/n-0000000000"; p != want {
					t.Errorf("first sequential child is %q, want %q", p, want)
				}
			} else if p != parent+"/n-" {
				t.Fatalf("create returned %q, want %q", p, parent+"/n-")
			}
			got, st, err := c.Get(ctxT(t), p)
			mustOK(t, err, "get")
			if !bytes.Equal(got, data) {
				t.Errorf("data %q, want %q", got, data)
			}
			if st.Czxid == 0 || st.Mzxid != st.Czxid || st.Pzxid != st.Czxid {
				t.Errorf("new node: czxid %d mzxid %d pzxid %d, want mzxid = pzxid = czxid != 0", st.Czxid, st.Mzxid, st.Pzxid)
			}
			if st.Version != 0 || st.Cversion != 0 || st.Aversion != 0 || st.NumChildren != 0 {
				t.Errorf("new node: version %d cversion %d aversion %d numChildren %d, want all 0", st.Version, st.Cversion, st.Aversion, st.NumChildren)
			}
			if st.DataLength != int32(len(data)) {
				t.Errorf("dataLength %d, want %d", st.DataLength, len(data))
			}
			if !st.Ctime.Equal(st.Mtime) || st.Ctime.IsZero() {
				t.Errorf("ctime %v mtime %v, want equal and set", st.Ctime, st.Mtime)
			}
			wantOwner := int64(0)
			if m.ephemeral {
				wantOwner = c.SessionID()
			}
			if st.EphemeralOwner != wantOwner {
				t.Errorf("ephemeralOwner %#x, want %#x (DATA-MODEL.md: 0 for container and TTL nodes)", st.EphemeralOwner, wantOwner)
			}
			eph, err := c.GetEphemerals(ctxT(t), parent+"/n-")
			mustOK(t, err, "getEphemerals")
			if m.ephemeral != (len(eph) == 1 && eph[0] == p) {
				t.Errorf("GetEphemerals(%s/n-) = %v; ephemeral %v", parent, eph, m.ephemeral)
			}
			after := mustStat(t, c, parent)
			if after.NumChildren != before.NumChildren+1 || after.Cversion != before.Cversion+1 || after.Pzxid != st.Czxid {
				t.Errorf("parent after the create: numChildren %d cversion %d pzxid %d, want %d, %d, %d",
					after.NumChildren, after.Cversion, after.Pzxid, before.NumChildren+1, before.Cversion+1, st.Czxid)
			}
			if after.Version != before.Version || after.Mzxid != before.Mzxid {
				t.Errorf("a child's create changed the parent's data version: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("WithParents", func(t *testing.T) {
		p := mustCreate(t, c, root+"/mk/a/b/c", []byte("x"), client.WithParents())
		if p != root+"/mk/a/b/c" {
			t.Fatalf("create returned %q", p)
		}
		for _, anc := range []string{root + "/mk", root + "/mk/a", root + "/mk/a/b"} {
			st := mustStat(t, c, anc)
			if st.EphemeralOwner != 0 || st.NumChildren != 1 {
				t.Errorf("ancestor %s: %+v, want a persistent node with one child", anc, st)
			}
		}
	})

	t.Run("SequentialTrailingSlash", func(t *testing.T) {
		q := mustCreate(t, c, root+"/queue", nil)
		for i := range 3 {
			p, err := c.Create(ctxT(t), q+"/", nil, client.WithMode(client.ModePersistentSequential))
			mustOK(t, err, "create "+q+"/")
			if want := fmt.Sprintf("%s/%010d", q, i); p != want {
				t.Errorf("sequential create of %s/ returned %q, want %q (DATA-MODEL.md)", q, p, want)
			}
		}
	})

	t.Run("TTLArguments", func(t *testing.T) {
		before := snapshots(t, c, root)
		cases := []struct {
			name string
			opts []client.CreateOption
		}{
			{"TTLModeWithoutTTL", []client.CreateOption{client.WithMode(client.ModePersistentTTL)}},
			{"TTLOnPersistent", []client.CreateOption{client.WithTTL(time.Hour)}},
			{"TTLOnEphemeral", []client.CreateOption{client.WithMode(client.ModeEphemeral), client.WithTTL(time.Hour)}},
			{"TTLTooLong", []client.CreateOption{client.WithMode(client.ModePersistentTTL), client.WithTTL(time.Duration(1<<40) * time.Millisecond)}},
			{"TTLBelowOneMs", []client.CreateOption{client.WithMode(client.ModePersistentTTL), client.WithTTL(time.Microsecond)}},
		}
		for _, tc := range cases {
			_, err := c.Create(ctxT(t), root+"/ttl-"+tc.name, nil, tc.opts...)
			if !errors.Is(err, client.ErrBadArguments) {
				t.Errorf("%s: got %v, want BadArguments", tc.name, err)
			}
		}
		unchanged(t, c, before, "refused TTL creates")
	})
}

// TestSemanticsOpsReads checks get, exists, children, countDescendants,
// readMulti, getACL and sync on a small tree.
func TestSemanticsOpsReads(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	names := []string{"b", "a", "Z", "a0", "é"}
	for _, n := range names {
		mustCreate(t, c, root+"/"+n, []byte(n))
	}
	mustCreate(t, c, root+"/a/x", nil)
	mustCreate(t, c, root+"/a/x/y", nil)

	children, st, err := c.Children(ctxT(t), root)
	mustOK(t, err, "children")
	want := []string{"Z", "a", "a0", "b", "é"} // bytewise
	if fmt.Sprint(children) != fmt.Sprint(want) {
		t.Errorf("children %q, want %q (sorted bytewise)", children, want)
	}
	if st.NumChildren != int32(len(names)) {
		t.Errorf("children's parent stat numChildren %d, want %d", st.NumChildren, len(names))
	}
	data, gst, err := c.Get(ctxT(t), root+"/b")
	mustOK(t, err, "get")
	if string(data) != "b" || gst.DataLength != 1 {
		t.Errorf("get %s/b: %q %+v", root, data, gst)
	}
	est, err := c.Exists(ctxT(t), root+"/b")
	mustOK(t, err, "exists")
	if !statEqual(est, gst) {
		t.Errorf("exists stat %+v differs from get's %+v", est, gst)
	}
	_, err = c.Exists(ctxT(t), root+"/missing")
	wantErr(t, err, client.ErrNoNode, "exists of a missing node")

	n, err := c.CountDescendants(ctxT(t), root)
	mustOK(t, err, "countDescendants")
	if n != int64(len(names)+2) {
		t.Errorf("countDescendants(%s) = %d, want %d", root, n, len(names)+2)
	}

	res, err := c.ReadMulti(ctxT(t), client.GetOp(root+"/a"), client.ChildrenOp(root+"/a"), client.ExistsOp(root+"/missing"), client.ExistsOp(root+"/a/x/y"))
	mustOK(t, err, "readMulti")
	if len(res) != 4 {
		t.Fatalf("readMulti returned %d results, want 4", len(res))
	}
	if res[0].Err != nil || string(res[0].Data) != "a" {
		t.Errorf("readMulti get: %+v", res[0])
	}
	if res[1].Err != nil || fmt.Sprint(res[1].Children) != "[x]" {
		t.Errorf("readMulti children: %+v", res[1])
	}
	if !errors.Is(res[2].Err, client.ErrNoNode) {
		t.Errorf("readMulti exists of a missing node: %v, want NoNode", res[2].Err)
	}
	if res[3].Err != nil || res[3].Stat.Czxid == 0 {
		t.Errorf("readMulti exists: %+v", res[3])
	}

	acl, ast, err := c.GetACL(ctxT(t), root+"/b")
	mustOK(t, err, "getACL")
	if len(acl) != 1 || acl[0] != (client.ACL{Perms: client.PermAll, Scheme: "world", ID: "anyone"}) {
		t.Errorf("default ACL %+v, want world:anyone all", acl)
	}
	if !statEqual(ast, gst) {
		t.Errorf("getACL stat %+v differs from get's %+v", ast, gst)
	}

	mustOK(t, c.Sync(ctxT(t), root), "sync")
	mustOK(t, c.Sync(ctxT(t), "/"), "sync /")

	// /arbor is readable (DATA-MODEL.md: reserved, clients may read it).
	_, _, err = c.Children(ctxT(t), "/arbor")
	if err != nil && !errors.Is(err, client.ErrNoNode) {
		t.Errorf("reading the reserved /arbor: %v, want it readable", err)
	}
}

// TestSemanticsOpsErrorCodes checks each error code a user meets, on each
// operation that can return it, and that the failed operation changed
// nothing.
func TestSemanticsOpsErrorCodes(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	node := mustCreate(t, c, root+"/node", []byte("v0"))
	mustCreate(t, c, node+"/child", []byte("c"))
	leaf := mustCreate(t, c, root+"/leaf", []byte("leaf"))
	eph := mustCreate(t, c, root+"/eph", []byte("e"), client.WithMode(client.ModeEphemeral))
	missing := root + "/missing"
	watched := []string{root, node, node + "/child", leaf, eph, missing}

	cases := []struct {
		name string
		code error
		op   func() error
	}{
		{"GetNoNode", client.ErrNoNode, func() error { _, _, err := c.Get(ctxT(t), missing); return err }},
		{"SetNoNode", client.ErrNoNode, func() error { _, err := c.Set(ctxT(t), missing, []byte("x"), -1); return err }},
		{"DeleteNoNode", client.ErrNoNode, func() error { return c.Delete(ctxT(t), missing, -1) }},
		{"ExistsNoNode", client.ErrNoNode, func() error { _, err := c.Exists(ctxT(t), missing); return err }},
		{"ChildrenNoNode", client.ErrNoNode, func() error { _, _, err := c.Children(ctxT(t), missing); return err }},
		{"GetACLNoNode", client.ErrNoNode, func() error { _, _, err := c.GetACL(ctxT(t), missing); return err }},
		{"SetACLNoNode", client.ErrNoNode, func() error {
			_, err := c.SetACL(ctxT(t), missing, client.WorldACL(client.PermAll), -1)
			return err
		}},
		{"CreateNoParent", client.ErrNoNode, func() error { _, err := c.Create(ctxT(t), missing+"/x", nil); return err }},
		{"CreateNodeExists", client.ErrNodeExists, func() error { _, err := c.Create(ctxT(t), node, []byte("other")); return err }},
		{"CreateEphemeralNodeExists", client.ErrNodeExists, func() error {
			_, err := c.Create(ctxT(t), leaf, nil, client.WithMode(client.ModeEphemeral))
			return err
		}},
		{"SetBadVersion", client.ErrBadVersion, func() error { _, err := c.Set(ctxT(t), node, []byte("x"), 7); return err }},
		{"DeleteBadVersion", client.ErrBadVersion, func() error { return c.Delete(ctxT(t), leaf, 3) }},
		{"SetACLBadVersion", client.ErrBadVersion, func() error {
			_, err := c.SetACL(ctxT(t), leaf, client.WorldACL(client.PermRead), 5)
			return err
		}},
		{"DeleteNotEmpty", client.ErrNotEmpty, func() error { return c.Delete(ctxT(t), node, -1) }},
		{"DeleteNotEmptyRightVersion", client.ErrNotEmpty, func() error { return c.Delete(ctxT(t), node, 0) }},
		{"CreateUnderEphemeral", client.ErrNoChildrenForEphemerals, func() error { _, err := c.Create(ctxT(t), eph+"/x", nil); return err }},
		{"CreateSequentialUnderEphemeral", client.ErrNoChildrenForEphemerals, func() error {
			_, err := c.Create(ctxT(t), eph+"/x-", nil, client.WithMode(client.ModeEphemeralSequential))
			return err
		}},
		{"CreateEmptyACL", client.ErrInvalidACL, func() error { _, err := c.Create(ctxT(t), root+"/acl", nil, client.WithACL()); return err }},
		{"CreateUnknownScheme", client.ErrInvalidACL, func() error {
			_, err := c.Create(ctxT(t), root+"/acl", nil, client.WithACL(client.ACL{Perms: client.PermAll, Scheme: "ip", ID: "127.0.0.1"}))
			return err
		}},
		{"SetACLEmpty", client.ErrInvalidACL, func() error { _, err := c.SetACL(ctxT(t), leaf, nil, -1); return err }},
		{"CreateReserved", client.ErrNoAuth, func() error { _, err := c.Create(ctxT(t), "/arbor/conformance", nil); return err }},
		{"SetReserved", client.ErrNoAuth, func() error { _, err := c.Set(ctxT(t), "/arbor", []byte("x"), -1); return err }},
		{"DeleteReserved", client.ErrNoAuth, func() error { return c.Delete(ctxT(t), "/arbor", -1) }},
		{"AddAuthUnknownScheme", client.ErrAuthFailed, func() error { return c.AddAuth(ctxT(t), "nosuchscheme", []byte("x")) }},
		{"AddAuthBadDigest", client.ErrAuthFailed, func() error { return c.AddAuth(ctxT(t), "digest", []byte("no-colon")) }},
		{"RemoveWatchesNone", client.ErrNoWatcher, func() error { return c.RemoveWatches(ctxT(t), leaf) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshots(t, c, watched...)
			err := tc.op()
			wantErr(t, err, tc.code, tc.name)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Errorf("error %v (%T) is not a *client.Error", err, err)
			}
			unchanged(t, c, before, tc.name)
		})
	}
	// The session is still usable after all those errors.
	if _, err := c.Set(ctxT(t), leaf, []byte("still fine"), 0); err != nil {
		t.Fatalf("a write after the errors: %v", err)
	}
}

// TestSemanticsOpsBadArguments sends every operation bad paths and data
// over the limit: BadArguments, and nothing changes.
func TestSemanticsOpsBadArguments(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	node := mustCreate(t, c, root+"/node", []byte("v0"))

	badPaths := map[string]string{
		"Empty":          "",
		"Relative":       "node",
		"RelativeNested": strings.TrimPrefix(node, "/"),
		"TrailingSlash":  node + "/",
		"EmptyComponent": root + "//node",
		"DotDot":         root + "/x/../node",
		"Dot":            root + "/./node",
		"NUL":            root + "/a\x00b",
		"Control":        root + "/a\x01b",
		"DEL":            root + "/a\x7fb",
		"Surrogate":      root + "/a\uf000b",
		"BeyondBMP":      root + "/a\U0001F600b",
		"TooLong":        root + "/" + strings.Repeat("x", 4097),
	}
	ops := map[string]func(p string) error{
		"Create":   func(p string) error { _, err := c.Create(ctxT(t), p, nil); return err },
		"Set":      func(p string) error { _, err := c.Set(ctxT(t), p, []byte("x"), -1); return err },
		"Delete":   func(p string) error { return c.Delete(ctxT(t), p, -1) },
		"Get":      func(p string) error { _, _, err := c.Get(ctxT(t), p); return err },
		"Exists":   func(p string) error { _, err := c.Exists(ctxT(t), p); return err },
		"Children": func(p string) error { _, _, err := c.Children(ctxT(t), p); return err },
		"GetACL":   func(p string) error { _, _, err := c.GetACL(ctxT(t), p); return err },
		"SetACL": func(p string) error {
			_, err := c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
			return err
		},
	}
	before := snapshots(t, c, root, node)
	for pname, p := range badPaths {
		for oname, op := range ops {
			if err := op(p); !errors.Is(err, client.ErrBadArguments) {
				t.Errorf("%s of a bad path (%s, %q): %v, want BadArguments", oname, pname, p, err)
			}
		}
	}
	unchanged(t, c, before, "operations on bad paths")

	// The root cannot be created or deleted.
	if _, err := c.Create(ctxT(t), "/", nil); err == nil {
		t.Errorf("create / succeeded")
	}
	if err := c.Delete(ctxT(t), "/", -1); err == nil {
		t.Errorf("delete / succeeded")
	}

	// Data over the member's limit (1 MiB by default).
	big := make([]byte, 1<<20+1)
	_, err := c.Create(ctxT(t), root+"/big", big)
	wantErr(t, err, client.ErrBadArguments, "create with 1 MiB + 1 of data")
	_, err = c.Set(ctxT(t), node, big, -1)
	wantErr(t, err, client.ErrBadArguments, "set with 1 MiB + 1 of data")
	unchanged(t, c, before, "operations with data over the limit")
	// Exactly the limit is fine.
	_, err = c.Set(ctxT(t), node, big[:1<<20], -1)
	mustOK(t, err, "set with 1 MiB of data")
}
