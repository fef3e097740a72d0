package conformance

import (
	"errors"
	"fmt"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// TestSemanticsMultiApplies checks a successful multi: every op applied,
// each seeing the ones before it, with the right per-op results, all at
// one zxid.
func TestSemanticsMultiApplies(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	old := mustCreate(t, c, root+"/old", []byte("old"))
	set := mustCreate(t, c, root+"/set", []byte("v0"))

	res, err := c.Multi(ctxT(t),
		client.CreateOp(root+"/a", []byte("a")),
		client.CreateOp(root+"/a/b", []byte("b")), // sees the create before it
		client.CreateOp(root+"/s-", nil, client.WithMode(client.ModePersistentSequential)),
		client.CheckOp(set, 0),
		client.SetOp(set, []byte("v1"), 0),
		client.SetOp(set, []byte("v2"), 1), // sees the set before it
		client.CheckOp(set, 2),
		client.DeleteOp(old, 0),
		client.CheckOp(root+"/a/b", -1),
	)
	mustOK(t, err, "multi")
	if len(res) != 9 {
		t.Fatalf("%d results, want 9", len(res))
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("result %d: %v", i, r.Err)
		}
	}
	if res[0].Path != root+"/a" || res[1].Path != root+"/a/b" {
		t.Errorf("create results: %q, %q", res[0].Path, res[1].Path)
	}
	if want := fmt.Sprintf("%s/s-%010d", root, 3); res[2].Path != want {
		t.Errorf("sequential create in a multi: %q, want %q (the root's 4th creation)", res[2].Path, want)
	}
	if res[4].Stat.Version != 1 || res[5].Stat.Version != 2 {
		t.Errorf("set results: versions %d, %d, want 1, 2", res[4].Stat.Version, res[5].Stat.Version)
	}
	zxid := res[0].Stat.Czxid
	for _, i := range []int{1, 2} {
		if res[i].Stat.Czxid != zxid {
			t.Errorf("create %d of the multi has czxid %d, want the multi's one zxid %d", i, res[i].Stat.Czxid, zxid)
		}
	}
	if res[4].Stat.Mzxid != zxid || res[5].Stat.Mzxid != zxid {
		t.Errorf("sets of the multi have mzxids %d, %d, want %d", res[4].Stat.Mzxid, res[5].Stat.Mzxid, zxid)
	}

	data, st, err := c.Get(ctxT(t), set)
	mustOK(t, err, "get")
	if string(data) != "v2" || st.Version != 2 {
		t.Errorf("%s: %q version %d, want v2 version 2", set, data, st.Version)
	}
	_, err = c.Exists(ctxT(t), old)
	wantErr(t, err, client.ErrNoNode, "the multi's delete")
	if data, _, err := c.Get(ctxT(t), root+"/a/b"); err != nil || string(data) != "b" {
		t.Errorf("the multi's nested create: %q, %v", data, err)
	}
	rst := mustStat(t, c, root)
	if rst.Pzxid != zxid {
		t.Errorf("root's pzxid %d, want the multi's zxid %d", rst.Pzxid, zxid)
	}
}

// TestSemanticsMultiAllOrNothing checks a multi with one failing op, in
// each position and for each kind of failure: it applies nothing, its error
// is the failing op's, and the results are Ok (rolled back) before it, its
// error at it, RuntimeInconsistency after it.
func TestSemanticsMultiAllOrNothing(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	x := mustCreate(t, c, root+"/x", []byte("x0"))
	y := mustCreate(t, c, root+"/y", []byte("y0"))
	full := mustCreate(t, c, root+"/full", nil)
	mustCreate(t, c, full+"/child", nil)
	eph := mustCreate(t, c, root+"/eph", nil, client.WithMode(client.ModeEphemeral))
	paths := []string{root, x, y, full, full + "/child", eph, root + "/new", root + "/new2"}

	good := []client.Op{
		client.CreateOp(root+"/new", []byte("n")),
		client.SetOp(x, []byte("x1"), 0),
		client.DeleteOp(y, 0),
		client.CreateOp(root+"/new2", nil),
	}
	bad := []struct {
		name string
		op   client.Op
		code error
	}{
		{"CheckBadVersion", client.CheckOp(x, 5), client.ErrBadVersion},
		{"CheckNoNode", client.CheckOp(root+"/missing", -1), client.ErrNoNode},
		{"SetBadVersion", client.SetOp(full, []byte("z"), 3), client.ErrBadVersion},
		{"SetNoNode", client.SetOp(root+"/missing", []byte("z"), -1), client.ErrNoNode},
		{"CreateNodeExists", client.CreateOp(full, nil), client.ErrNodeExists},
		{"CreateNoParent", client.CreateOp(root+"/missing/z", nil), client.ErrNoNode},
		{"CreateUnderEphemeral", client.CreateOp(eph+"/z", nil), client.ErrNoChildrenForEphemerals},
		{"DeleteNotEmpty", client.DeleteOp(full, -1), client.ErrNotEmpty},
		{"DeleteBadVersion", client.DeleteOp(full+"/child", 9), client.ErrBadVersion},
		{"CreateReserved", client.CreateOp("/arbor/z", nil), client.ErrNoAuth},
	}
	for _, b := range bad {
		for pos := 0; pos <= len(good); pos++ {
			t.Run(fmt.Sprintf("%s/at%d", b.name, pos), func(t *testing.T) {
				ops := append(append(append([]client.Op{}, good[:pos]...), b.op), good[pos:]...)
				before := snapshots(t, c, paths...)
				res, err := c.Multi(ctxT(t), ops...)
				wantErr(t, err, b.code, "the multi")
				var e *client.Error
				if errors.As(err, &e) && e.Op != "multi" {
					t.Errorf("error's Op %q, want multi", e.Op)
				}
				if len(res) != len(ops) {
					t.Fatalf("%d results for %d ops: %v", len(res), len(ops), res)
				}
				for i, r := range res {
					switch {
					case i < pos && r.Err != nil:
						t.Errorf("result %d (before the failing op): %v, want nil", i, r.Err)
					case i == pos && !errors.Is(r.Err, b.code):
						t.Errorf("result %d (the failing op): %v, want %v", i, r.Err, b.code)
					case i > pos && !errors.Is(r.Err, client.ErrRuntimeInconsistency):
						t.Errorf("result %d (after the failing op): %v, want RuntimeInconsistency", i, r.Err)
					}
				}
				unchanged(t, c, before, "a failed multi")
			})
		}
	}

	// Ops that are fine alone but fail together: a create after the same
	// create, a delete of a node the multi gave a child.
	t.Run("ConflictWithinMulti", func(t *testing.T) {
		before := snapshots(t, c, paths...)
		_, err := c.Multi(ctxT(t), client.CreateOp(root+"/new", nil), client.CreateOp(root+"/new", nil))
		wantErr(t, err, client.ErrNodeExists, "create twice in one multi")
		_, err = c.Multi(ctxT(t), client.CreateOp(x+"/kid", nil), client.DeleteOp(x, -1))
		wantErr(t, err, client.ErrNotEmpty, "delete a node the multi gave a child")
		_, err = c.Multi(ctxT(t), client.SetOp(x, []byte("x1"), 0), client.CheckOp(x, 0))
		wantErr(t, err, client.ErrBadVersion, "check of the version a set before it replaced")
		unchanged(t, c, before, "failed multis")
	})
}

// TestSemanticsMultiCheck checks the check op alone: the right version
// (or -1 on an existing node) passes, a wrong one is BadVersion, a missing
// node NoNode, and a multi of passing checks changes nothing.
func TestSemanticsMultiCheck(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", nil)
	_, err := c.Set(ctxT(t), p, []byte("x"), -1)
	mustOK(t, err, "set")
	before := snapshots(t, c, root, p)
	res, err := c.Multi(ctxT(t), client.CheckOp(p, 1), client.CheckOp(p, -1), client.CheckOp(root, -1))
	mustOK(t, err, "multi of passing checks")
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	unchanged(t, c, before, "a multi of checks")
	_, err = c.Multi(ctxT(t), client.CheckOp(p, 0))
	wantErr(t, err, client.ErrBadVersion, "check of an old version")
	_, err = c.Multi(ctxT(t), client.CheckOp(root+"/missing", -1))
	wantErr(t, err, client.ErrNoNode, "check of a missing node")
	res, err = c.Multi(ctxT(t))
	if err != nil || len(res) != 0 {
		t.Errorf("empty multi: %v, %v", res, err)
	}
}

// TestSemanticsMultiClientRefusedOp puts in a multi an op that the client
// refuses before sending (an empty ACL, a bad path): nothing is applied,
// the error matches the op's code, and, as Client.Multi documents ("If one
// fails, the error is that op's *Error (Op "multi", the op's path) and the
// results say which one it was"), the results say which op it was.
func TestSemanticsMultiClientRefusedOp(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	x := mustCreate(t, c, root+"/x", []byte("x0"))
	cases := []struct {
		name string
		op   client.Op
		code error
	}{
		{"EmptyACL", client.CreateOp(root+"/z", nil, client.WithACL()), client.ErrInvalidACL},
		{"BadPath", client.SetOp(root+"/z/", nil, -1), client.ErrBadArguments},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshots(t, c, root, x)
			ops := []client.Op{client.SetOp(x, []byte("x1"), 0), tc.op, client.CreateOp(root+"/after", nil)}
			res, err := c.Multi(ctxT(t), ops...)
			wantErr(t, err, tc.code, "the multi")
			unchanged(t, c, before, "a refused multi")
			var e *client.Error
			if !errors.As(err, &e) || e.Op != "multi" {
				t.Errorf("error %#v: want an *Error with Op \"multi\" (Client.Multi's doc)", err)
			}
			if len(res) != len(ops) {
				t.Errorf("%d results for %d ops: the results do not say which op failed (Client.Multi's doc)", len(res), len(ops))
			}
		})
	}
}
