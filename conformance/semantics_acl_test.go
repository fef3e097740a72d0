package conformance

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// digestACL returns the ACL entry granting perms to the digest identity
// user:password (PROTOCOL.md, "Authentication").
func digestACL(user, password string, perms client.Perm) client.ACL {
	sum := sha1.Sum([]byte(user + ":" + password))
	return client.ACL{Perms: perms, Scheme: "digest", ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}
}

// TestSemanticsACLWorldReadOnly checks a node everyone may only read: reads
// work, every write is NoAuth and changes nothing.
func TestSemanticsACLWorldReadOnly(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/ro", []byte("fixed"), client.WithACL(client.WorldACL(client.PermRead)...))
	before := snapshots(t, c, root, p)

	_, err := c.Set(ctxT(t), p, []byte("changed"), -1)
	wantErr(t, err, client.ErrNoAuth, "set a read-only node")
	_, err = c.Create(ctxT(t), p+"/kid", nil)
	wantErr(t, err, client.ErrNoAuth, "create under a node without CREATE")
	_, err = c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
	wantErr(t, err, client.ErrNoAuth, "setACL without ADMIN")
	_, err = c.Multi(ctxT(t), client.CreateOp(root+"/ok", nil), client.SetOp(p, []byte("changed"), -1))
	wantErr(t, err, client.ErrNoAuth, "a multi with a set of a read-only node")
	unchanged(t, c, before, "refused writes")

	data, _, err := c.Get(ctxT(t), p)
	if err != nil || string(data) != "fixed" {
		t.Errorf("get: %q, %v", data, err)
	}
	acl, _, err := c.GetACL(ctxT(t), p)
	mustOK(t, err, "getACL with READ")
	if len(acl) != 1 || acl[0] != (client.ACL{Perms: client.PermRead, Scheme: "world", ID: "anyone"}) {
		t.Errorf("ACL %+v", acl)
	}
	// Deleting the node needs DELETE on its parent, which it has.
	mustOK(t, c.Delete(ctxT(t), p, -1), "delete a read-only node (DELETE on the parent)")
}

// TestSemanticsACLDigest checks digest ACLs: a client without the identity
// is refused every check that needs a permission (exists needs none); one
// with it, through AddAuth or WithAuth, passes; a wrong password is
// another identity.
func TestSemanticsACLDigest(t *testing.T) {
	owner := connect(t, nil, client.WithAuth("digest", []byte("alice:secret")))
	root := testRoot(t, owner)
	p := mustCreate(t, owner, root+"/private", []byte("secret data"), client.WithACL(digestACL("alice", "secret", client.PermAll)))
	mustCreate(t, owner, p+"/kid", nil)

	stranger := connect(t, nil)
	before := snapshots(t, owner, root, p)
	_, _, err := stranger.Get(ctxT(t), p)
	wantErr(t, err, client.ErrNoAuth, "get without the identity")
	_, _, err = stranger.Children(ctxT(t), p)
	wantErr(t, err, client.ErrNoAuth, "children without the identity")
	_, _, err = stranger.GetACL(ctxT(t), p)
	wantErr(t, err, client.ErrNoAuth, "getACL without READ or ADMIN")
	_, err = stranger.Set(ctxT(t), p, []byte("x"), -1)
	wantErr(t, err, client.ErrNoAuth, "set without the identity")
	_, err = stranger.Create(ctxT(t), p+"/x", nil)
	wantErr(t, err, client.ErrNoAuth, "create without the identity")
	wantErr(t, stranger.Delete(ctxT(t), p+"/kid", -1), client.ErrNoAuth, "delete without the identity")
	_, err = stranger.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
	wantErr(t, err, client.ErrNoAuth, "setACL without the identity")
	_, err = stranger.Multi(ctxT(t), client.CheckOp(p, -1))
	wantErr(t, err, client.ErrNoAuth, "check without READ")
	res, err := stranger.ReadMulti(ctxT(t), client.GetOp(p), client.ExistsOp(p))
	mustOK(t, err, "readMulti")
	wantErr(t, res[0].Err, client.ErrNoAuth, "readMulti get without the identity")
	mustOK(t, res[1].Err, "readMulti exists (needs no permission)")
	if _, err := stranger.Exists(ctxT(t), p); err != nil {
		t.Errorf("exists needs no permission (DATA-MODEL.md): %v", err)
	}
	unchanged(t, owner, before, "refused operations")

	wrong := connect(t, nil)
	mustOK(t, wrong.AddAuth(ctxT(t), "digest", []byte("alice:wrong")), "addAuth with a wrong password (another identity)")
	_, _, err = wrong.Get(ctxT(t), p)
	wantErr(t, err, client.ErrNoAuth, "get with a wrong password")

	mustOK(t, stranger.AddAuth(ctxT(t), "digest", []byte("alice:secret")), "addAuth")
	data, _, err := stranger.Get(ctxT(t), p)
	if err != nil || string(data) != "secret data" {
		t.Errorf("get after addAuth: %q, %v", data, err)
	}
	if _, err := stranger.Set(ctxT(t), p, []byte("changed"), -1); err != nil {
		t.Errorf("set after addAuth: %v", err)
	}
	withAuth := connect(t, nil, client.WithAuth("digest", []byte("alice:secret")))
	if _, _, err := withAuth.Get(ctxT(t), p); err != nil {
		t.Errorf("get by a client connected WithAuth: %v", err)
	}
}

// TestSemanticsACLAuthSurvivesReconnect checks that a session's identities
// still count after its connection is dropped and the session resumed.
func TestSemanticsACLAuthSurvivesReconnect(t *testing.T) {
	owner := connect(t, nil, client.WithAuth("digest", []byte("bob:pw")))
	root := testRoot(t, owner)
	p := mustCreate(t, owner, root+"/bobs", []byte("x"), client.WithACL(digestACL("bob", "pw", client.PermAll)))

	fwd := startForwarder(t, servers(t)[0])
	var states stateRecorder
	c := connect(t, []string{fwd.Addr()}, client.WithStateFunc(states.record))
	mustOK(t, c.AddAuth(ctxT(t), "digest", []byte("bob:pw")), "addAuth")
	_, _, err := c.Get(ctxT(t), p)
	mustOK(t, err, "get with the identity")
	connected := states.count(client.StateConnected)
	if fwd.Drop() == 0 {
		t.Fatal("no connection to drop")
	}
	eventually(t, "the client to reconnect", func() bool {
		return states.count(client.StateConnected) > connected && c.State() == client.StateConnected
	})
	if _, _, err := c.Get(ctxT(t), p); err != nil {
		t.Errorf("get after the session resumed on a new connection: %v (identities must be re-sent)", err)
	}
}

// TestSemanticsACLPermissions checks each permission on the operation that
// needs it (DATA-MODEL.md, "ACLs"): each node grants all but one
// permission, and only the operation needing that one is refused.
func TestSemanticsACLPermissions(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	without := func(name string, perm client.Perm) string {
		p := mustCreate(t, c, root+"/"+name, []byte("d"), client.WithACL(client.WorldACL(client.PermAll&^perm)...))
		return p
	}

	t.Run("CreateNeedsCreateOnParent", func(t *testing.T) {
		p := without("no-create", client.PermCreate)
		before := snapshots(t, c, p)
		_, err := c.Create(ctxT(t), p+"/kid", nil)
		wantErr(t, err, client.ErrNoAuth, "create under a parent without CREATE")
		_, err = c.Create(ctxT(t), p+"/kid/deeper", nil, client.WithParents())
		wantErr(t, err, client.ErrNoAuth, "create with parents below a node without CREATE")
		unchanged(t, c, before, "refused creates")
		_, err = c.Set(ctxT(t), p, []byte("x"), -1)
		mustOK(t, err, "set (WRITE granted)")
	})
	t.Run("DeleteNeedsDeleteOnParent", func(t *testing.T) {
		p := without("no-delete", client.PermDelete)
		kid := mustCreate(t, c, p+"/kid", nil) // the child grants everything
		before := snapshots(t, c, p, kid)
		wantErr(t, c.Delete(ctxT(t), kid, -1), client.ErrNoAuth, "delete a child of a parent without DELETE")
		unchanged(t, c, before, "a refused delete")
		grand := mustCreate(t, c, kid+"/grand", nil)
		mustOK(t, c.Delete(ctxT(t), grand, -1), "delete below a parent with DELETE")
	})
	t.Run("SetNeedsWrite", func(t *testing.T) {
		p := without("no-write", client.PermWrite)
		before := snapshots(t, c, p)
		_, err := c.Set(ctxT(t), p, []byte("x"), -1)
		wantErr(t, err, client.ErrNoAuth, "set without WRITE")
		unchanged(t, c, before, "a refused set")
		mustCreate(t, c, p+"/kid", nil)
	})
	t.Run("SetACLNeedsAdmin", func(t *testing.T) {
		p := without("no-admin", client.PermAdmin)
		before := snapshots(t, c, p)
		_, err := c.SetACL(ctxT(t), p, client.WorldACL(client.PermAll), -1)
		wantErr(t, err, client.ErrNoAuth, "setACL without ADMIN")
		unchanged(t, c, before, "a refused setACL")
		if _, _, err := c.GetACL(ctxT(t), p); err != nil {
			t.Errorf("getACL with READ but not ADMIN: %v", err)
		}
	})
	t.Run("ReadsNeedRead", func(t *testing.T) {
		p := without("no-read", client.PermRead)
		_, _, err := c.Get(ctxT(t), p)
		wantErr(t, err, client.ErrNoAuth, "get without READ")
		_, _, err = c.Children(ctxT(t), p)
		wantErr(t, err, client.ErrNoAuth, "children without READ")
		_, err = c.CountDescendants(ctxT(t), p)
		wantErr(t, err, client.ErrNoAuth, "countDescendants without READ")
		if _, err := c.Exists(ctxT(t), p); err != nil {
			t.Errorf("exists without READ: %v (needs no permission)", err)
		}
		if _, _, err := c.GetACL(ctxT(t), p); err != nil {
			t.Errorf("getACL with ADMIN but not READ: %v", err)
		}
		_, err = c.Set(ctxT(t), p, []byte("x"), -1)
		mustOK(t, err, "set (WRITE granted)")
	})
}

// TestSemanticsACLInvalid checks that malformed ACLs are InvalidACL, in
// create and setACL, and change nothing.
func TestSemanticsACLInvalid(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", nil)
	cases := map[string][]client.ACL{
		"Empty":           {},
		"UnknownScheme":   {{Perms: client.PermAll, Scheme: "sasl", ID: "x"}},
		"DigestNoHash":    {{Perms: client.PermAll, Scheme: "digest", ID: "alice"}},
		"ZeroPerms":       {{Perms: 0, Scheme: "world", ID: "anyone"}},
		"PermsOutOfRange": {{Perms: 32, Scheme: "world", ID: "anyone"}},
		"WorldNotAnyone":  {{Perms: client.PermAll, Scheme: "world", ID: "someone"}},
		"AuthNoIdentity":  {{Perms: client.PermAll, Scheme: "auth", ID: ""}},
	}
	before := snapshots(t, c, root, p)
	for name, acl := range cases {
		_, err := c.Create(ctxT(t), root+"/bad", nil, client.WithACL(acl...))
		wantErr(t, err, client.ErrInvalidACL, "create with ACL "+name)
		_, err = c.SetACL(ctxT(t), p, acl, -1)
		wantErr(t, err, client.ErrInvalidACL, "setACL with ACL "+name)
	}
	unchanged(t, c, before, "invalid ACLs")

	// The auth scheme expands to the caller's digest identities.
	mustOK(t, c.AddAuth(ctxT(t), "digest", []byte("carol:pw")), "addAuth")
	q := mustCreate(t, c, root+"/auth", nil, client.WithACL(client.ACL{Perms: client.PermAll, Scheme: "auth"}))
	acl, _, err := c.GetACL(ctxT(t), q)
	mustOK(t, err, "getACL")
	if want := digestACL("carol", "pw", client.PermAll); len(acl) != 1 || acl[0] != want {
		t.Errorf("ACL of a node created with scheme auth: %+v, want [%+v]", acl, want)
	}
	// Duplicates are dropped.
	_, err = c.SetACL(ctxT(t), p, append(client.WorldACL(client.PermAll), client.WorldACL(client.PermAll)...), -1)
	mustOK(t, err, "setACL with a duplicate entry")
	if acl, _, err := c.GetACL(ctxT(t), p); err != nil || len(acl) != 1 {
		t.Errorf("ACL after setting a duplicate entry: %+v, %v (want one entry)", acl, err)
	}
}

// TestSemanticsACLWatchNeedsRead checks PROTOCOL.md's delivery rule: a
// watch on a node the session may not read stays silent.
func TestSemanticsACLWatchNeedsRead(t *testing.T) {
	owner := connect(t, nil, client.WithAuth("digest", []byte("dave:pw")))
	root := testRoot(t, owner)
	private := mustCreate(t, owner, root+"/private", nil, client.WithACL(digestACL("dave", "pw", client.PermAll)))
	public := mustCreate(t, owner, root+"/public", nil)

	w := connect(t, nil)
	_, pch, err := w.ExistsW(ctxT(t), private) // exists needs no permission
	mustOK(t, err, "existsW on a node it may not read")
	rec, err := w.AddWatch(ctxT(t), root, true)
	mustOK(t, err, "addWatch")
	_, mch, err := w.ExistsW(ctxT(t), public)
	mustOK(t, err, "existsW")

	_, err = owner.Set(ctxT(t), private, []byte("x"), -1)
	mustOK(t, err, "set private")
	st, err := owner.Set(ctxT(t), public, []byte("x"), -1) // the marker
	mustOK(t, err, "set public")
	wantEvent(t, mch, client.EventNodeDataChanged, public, st.Mzxid)
	wantEvent(t, rec.Events(), client.EventNodeDataChanged, public, st.Mzxid) // not private's first
	wantNoPending(t, pch, "a watch on a node the session may not read")
}

// TestSemanticsACLTooManyEntries checks DATA-MODEL.md's "more than 1024
// entries is InvalidACL", in create and setACL; 1024 entries are fine.
func TestSemanticsACLTooManyEntries(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", nil)
	acl := make([]client.ACL, 1025)
	for i := range acl {
		acl[i] = digestACL(fmt.Sprintf("u%d", i), "pw", client.PermAll)
	}
	acl[0] = client.WorldACL(client.PermAll)[0]
	before := snapshots(t, c, root, p)
	_, err := c.Create(ctxT(t), root+"/bad", nil, client.WithACL(acl...))
	if !errors.Is(err, client.ErrInvalidACL) {
		t.Errorf("create with 1025 ACL entries: %v, want InvalidACL (DATA-MODEL.md, \"ACLs\")", err)
	}
	_, err = c.SetACL(ctxT(t), p, acl, -1)
	if !errors.Is(err, client.ErrInvalidACL) {
		t.Errorf("setACL with 1025 ACL entries: %v, want InvalidACL (DATA-MODEL.md, \"ACLs\")", err)
	}
	unchanged(t, c, before, "refused ACLs of 1025 entries")
	_, err = c.Create(ctxT(t), root+"/max", nil, client.WithACL(acl[:1024]...))
	mustOK(t, err, "create with 1024 ACL entries")
}
