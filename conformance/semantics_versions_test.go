package conformance

import (
	"fmt"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// TestSemanticsVersionsSetData checks conditional setData: the right
// version and -1 succeed and bump version and mzxid (and only those), a
// wrong version is BadVersion and changes nothing.
func TestSemanticsVersionsSetData(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", []byte("v0"))
	created := mustStat(t, c, p)

	prev := created
	for i := 1; i <= 5; i++ {
		version := prev.Version
		if i%2 == 0 {
			version = -1 // any
		}
		data := []byte(fmt.Sprintf("value %d", i))
		st, err := c.Set(ctxT(t), p, data, version)
		mustOK(t, err, fmt.Sprintf("set %d with version %d", i, version))
		if st.Version != prev.Version+1 {
			t.Errorf("set %d: version %d, want %d", i, st.Version, prev.Version+1)
		}
		if st.Mzxid <= prev.Mzxid {
			t.Errorf("set %d: mzxid %d, not above the previous %d", i, st.Mzxid, prev.Mzxid)
		}
		if st.Mtime.Before(prev.Mtime) {
			t.Errorf("set %d: mtime %v before the previous %v", i, st.Mtime, prev.Mtime)
		}
		if st.Czxid != created.Czxid || !st.Ctime.Equal(created.Ctime) || st.Pzxid != created.Pzxid ||
			st.Cversion != 0 || st.Aversion != 0 || st.NumChildren != 0 || st.EphemeralOwner != 0 {
			t.Errorf("set %d changed more than data: created %+v, now %+v", i, created, st)
		}
		if st.DataLength != int32(len(data)) {
			t.Errorf("set %d: dataLength %d, want %d", i, st.DataLength, len(data))
		}
		got, gst, err := c.Get(ctxT(t), p)
		mustOK(t, err, "get")
		if string(got) != string(data) || !statEqual(gst, st) {
			t.Errorf("get after set %d: %q %+v, want %q and the set's stat %+v", i, got, gst, data, st)
		}

		before := snapshots(t, c, p)
		for _, wrong := range []int32{st.Version + 1, st.Version - 1, 1 << 20} {
			_, err := c.Set(ctxT(t), p, []byte("wrong"), wrong)
			wantErr(t, err, client.ErrBadVersion, fmt.Sprintf("set with version %d when it is %d", wrong, st.Version))
		}
		unchanged(t, c, before, "sets with a wrong version")
		prev = st
	}
}

// TestSemanticsVersionsDelete checks conditional delete.
func TestSemanticsVersionsDelete(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", nil)
	st, err := c.Set(ctxT(t), p, []byte("x"), 0)
	mustOK(t, err, "set")

	before := snapshots(t, c, root, p)
	wantErr(t, c.Delete(ctxT(t), p, 0), client.ErrBadVersion, "delete with the old version")
	wantErr(t, c.Delete(ctxT(t), p, 2), client.ErrBadVersion, "delete with a future version")
	unchanged(t, c, before, "deletes with a wrong version")

	mustOK(t, c.Delete(ctxT(t), p, st.Version), "delete with the right version")
	_, err = c.Exists(ctxT(t), p)
	wantErr(t, err, client.ErrNoNode, "exists after delete")

	q := mustCreate(t, c, root+"/any", nil)
	_, err = c.Set(ctxT(t), q, []byte("x"), -1)
	mustOK(t, err, "set")
	mustOK(t, c.Delete(ctxT(t), q, -1), "delete with version -1")
}

// TestSemanticsVersionsParentStat checks the parent's cversion, pzxid
// and numChildren through child creates and deletes, and that they leave
// the parent's version and mzxid alone.
func TestSemanticsVersionsParentStat(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	parent := mustCreate(t, c, root+"/p", []byte("parent"))
	prev := mustStat(t, c, parent)
	base := prev

	for i := range 3 {
		child := mustCreate(t, c, fmt.Sprintf("%s/c%d", parent, i), nil)
		cst := mustStat(t, c, child)
		st := mustStat(t, c, parent)
		if st.Cversion != prev.Cversion+1 || st.NumChildren != prev.NumChildren+1 || st.Pzxid != cst.Czxid {
			t.Errorf("after creating %s: parent cversion %d numChildren %d pzxid %d, want %d, %d, the child's czxid %d",
				child, st.Cversion, st.NumChildren, st.Pzxid, prev.Cversion+1, prev.NumChildren+1, cst.Czxid)
		}
		prev = st
	}
	for i := range 3 {
		child := fmt.Sprintf("%s/c%d", parent, i)
		mustOK(t, c.Delete(ctxT(t), child, -1), "delete "+child)
		st := mustStat(t, c, parent)
		if st.Cversion != prev.Cversion+1 || st.NumChildren != prev.NumChildren-1 || st.Pzxid <= prev.Pzxid {
			t.Errorf("after deleting %s: parent cversion %d numChildren %d pzxid %d, want %d, %d, above %d",
				child, st.Cversion, st.NumChildren, st.Pzxid, prev.Cversion+1, prev.NumChildren-1, prev.Pzxid)
		}
		if uint64(st.Pzxid) > c.LastZxid() {
			t.Errorf("parent pzxid %d is above the client's LastZxid %d", st.Pzxid, c.LastZxid())
		}
		prev = st
	}
	if prev.Version != base.Version || prev.Mzxid != base.Mzxid || prev.Czxid != base.Czxid || prev.Aversion != base.Aversion {
		t.Errorf("children's changes touched the parent's own fields: before %+v, after %+v", base, prev)
	}
	if prev.Cversion != 6 {
		t.Errorf("cversion %d after 3 creates and 3 deletes, want 6 (creations plus deletions)", prev.Cversion)
	}
}

// TestSemanticsVersionsSetACL checks that setACL is conditional on the
// aversion and bumps it, and nothing else.
func TestSemanticsVersionsSetACL(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", []byte("x"))
	before := mustStat(t, c, p)

	snap := snapshots(t, c, p)
	_, err := c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll&^client.PermDelete), 1)
	wantErr(t, err, client.ErrBadVersion, "setACL with a wrong aversion")
	unchanged(t, c, snap, "setACL with a wrong aversion")
	acl, _, err := c.GetACL(ctxT(t), p)
	mustOK(t, err, "getACL")
	if len(acl) != 1 || acl[0].Perms != client.PermAll {
		t.Errorf("the ACL changed after a refused setACL: %+v", acl)
	}

	st, err := c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll&^client.PermDelete), 0)
	mustOK(t, err, "setACL with the right aversion")
	if st.Aversion != 1 || st.Version != before.Version || st.Mzxid != before.Mzxid || st.Cversion != before.Cversion {
		t.Errorf("setACL: stat %+v, want aversion 1 and the rest as before %+v", st, before)
	}
	st, err = c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
	mustOK(t, err, "setACL with -1")
	if st.Aversion != 2 {
		t.Errorf("aversion %d after two setACLs, want 2", st.Aversion)
	}
	acl, _, err = c.GetACL(ctxT(t), p)
	mustOK(t, err, "getACL")
	if len(acl) != 1 || acl[0] != (client.ACL{Perms: client.PermAll, Scheme: "world", ID: "anyone"}) {
		t.Errorf("ACL %+v, want world:anyone all", acl)
	}
}

// TestSemanticsVersionsZxidsIncrease checks that every write gets a zxid
// above the previous one's, whatever it changes, and that the client's
// LastZxid follows.
func TestSemanticsVersionsZxidsIncrease(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	var last int64
	check := func(what string, zxid int64) {
		t.Helper()
		if zxid <= last {
			t.Fatalf("%s: zxid %d, not above the previous write's %d", what, zxid, last)
		}
		if uint64(zxid) > c.LastZxid() {
			t.Fatalf("%s: zxid %d above the client's LastZxid %d", what, zxid, c.LastZxid())
		}
		last = zxid
	}
	for i := range 10 {
		p := mustCreate(t, c, fmt.Sprintf("%s/n%d", root, i), nil)
		check("create "+p, mustStat(t, c, p).Czxid)
		st, err := c.Set(ctxT(t), p, []byte("x"), -1)
		mustOK(t, err, "set")
		check("set "+p, st.Mzxid)
		_, err = c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
		mustOK(t, err, "setACL")
		mustOK(t, c.Delete(ctxT(t), p, -1), "delete")
		check("delete "+p, mustStat(t, c, root).Pzxid)
	}
}
