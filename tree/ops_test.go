package tree

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// harness applies commands one entry at a time to a fresh tree.
type harness struct {
	t   *testing.T
	tr  *Tree
	now int64
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, tr: newTestTree(t, Options{MaxDataBytes: 16}), now: 1000}
}

var (
	alice = Identity{SchemeDigest, "alice:a1"}
	bob   = Identity{SchemeDigest, "bob:b1"}
	super = Identity{SchemeSuper, ""}
)

func (h *harness) apply(c Command) Result {
	h.t.Helper()
	if c.TimeMs == 0 {
		c.TimeMs = h.now
	}
	res, err := h.tr.Apply([]Entry{{Index: h.tr.Applied() + 1, Cmd: &c}})
	if err != nil {
		h.t.Fatal(err)
	}
	return res[0]
}

func (h *harness) run(op Op) Result { h.t.Helper(); return h.apply(Command{Op: op}) }

func (h *harness) must(op Op) Result {
	h.t.Helper()
	r := h.run(op)
	if r.Code != errcode.Ok {
		h.t.Fatalf("%T %+v: %s", op, op, r.Code.Name())
	}
	return r
}

func (h *harness) stat(p string) Stat {
	h.t.Helper()
	st, err := h.tr.Exists(p)
	if err != nil {
		h.t.Fatalf("exists %s: %v", p, err)
	}
	return st
}

func (h *harness) exists(p string) bool {
	_, err := h.tr.Exists(p)
	return err == nil
}

func mk(p string) *Create { return &Create{Path: p, ACL: OpenACL()} }

func aclFor(perms Perm, id Identity) []ACL {
	return []ACL{{perms, SchemeDigest, id.ID}}
}

// TestOpErrors runs one command per case against a small fixture and checks
// the code, then that a failed command changed nothing (equal digest).
func TestOpErrors(t *testing.T) {
	long := strings.Repeat("x", 17)
	tests := []struct {
		name string
		cmd  Command
		want errcode.Code
	}{
		{"create ok", Command{Op: mk("/p/new")}, errcode.Ok},
		{"create bad path", Command{Op: mk("/p/")}, errcode.BadArguments},
		{"create relative", Command{Op: mk("/p/../x")}, errcode.BadArguments},
		{"create bad mode", Command{Op: &Create{Path: "/x", ACL: OpenACL(), Mode: 7}}, errcode.BadArguments},
		{"create data too large", Command{Op: &Create{Path: "/x", ACL: OpenACL(), Data: []byte(long)}}, errcode.BadArguments},
		{"create ttl on persistent", Command{Op: &Create{Path: "/x", ACL: OpenACL(), TTLMs: 5}}, errcode.BadArguments},
		{"create ttl missing", Command{Op: &Create{Path: "/x", ACL: OpenACL(), Mode: PersistentTTL}}, errcode.BadArguments},
		{"create ttl too long", Command{Op: &Create{Path: "/x", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: MaxTTLMs + 1}}, errcode.BadArguments},
		{"create ephemeral without session", Command{Op: &Create{Path: "/x", ACL: OpenACL(), Mode: Ephemeral}}, errcode.BadArguments},
		{"create empty acl", Command{Op: &Create{Path: "/x"}}, errcode.InvalidACL},
		{"create acl perms 0", Command{Op: &Create{Path: "/x", ACL: []ACL{{0, "world", "anyone"}}}}, errcode.InvalidACL},
		{"create acl perms 32", Command{Op: &Create{Path: "/x", ACL: []ACL{{32, "world", "anyone"}}}}, errcode.InvalidACL},
		{"create acl world id", Command{Op: &Create{Path: "/x", ACL: []ACL{{1, "world", "bob"}}}}, errcode.InvalidACL},
		{"create acl digest id", Command{Op: &Create{Path: "/x", ACL: []ACL{{1, "digest", "bob"}}}}, errcode.InvalidACL},
		{"create acl digest two colons", Command{Op: &Create{Path: "/x", ACL: []ACL{{1, "digest", "a:b:c"}}}}, errcode.InvalidACL},
		{"create acl ip", Command{Op: &Create{Path: "/x", ACL: []ACL{{1, "ip", "127.0.0.1"}}}}, errcode.InvalidACL},
		{"create acl auth anonymous", Command{Op: &Create{Path: "/x", ACL: []ACL{{31, "auth", ""}}}}, errcode.InvalidACL},
		{"create in reserved", Command{Op: mk("/arbor/x")}, errcode.NoAuth},
		{"create reserved itself", Command{Op: mk("/arbor")}, errcode.NoAuth},
		{"create sequential in reserved", Command{Op: &Create{Path: "/arbor/", ACL: OpenACL(), Mode: PersistentSequential}}, errcode.NoAuth},
		{"create in reserved by system", Command{System: true, Op: mk("/arbor/x")}, errcode.Ok},
		{"create root", Command{Op: mk("/")}, errcode.NodeExists},
		{"create no parent", Command{Op: mk("/nope/x")}, errcode.NoNode},
		{"create no CREATE on parent", Command{Op: mk("/locked/x")}, errcode.NoAuth},
		{"create with CREATE on parent", Command{Identities: []Identity{alice}, Op: mk("/locked/x")}, errcode.Ok},
		{"create super", Command{Identities: []Identity{super}, Op: mk("/locked/x")}, errcode.Ok},
		{"create exists", Command{Op: mk("/p")}, errcode.NodeExists},
		{"create under ephemeral", Command{Op: mk("/p/eph/x")}, errcode.NoChildrenForEphemerals},
		{"create parents under ephemeral", Command{Op: &Create{Path: "/p/eph/x/y", ACL: OpenACL(), Parents: true}}, errcode.NoChildrenForEphemerals},
		{"create parents no CREATE", Command{Op: &Create{Path: "/locked/x/y", ACL: OpenACL(), Parents: true}}, errcode.NoAuth},
		{"create from closed session", Command{Session: 99, Op: mk("/x")}, errcode.SessionExpired},
		{"create ephemeral ok", Command{Session: 7, Op: &Create{Path: "/x", ACL: OpenACL(), Mode: Ephemeral}}, errcode.Ok},

		{"delete ok", Command{Op: &Delete{Path: "/p/leaf", Version: -1}}, errcode.Ok},
		{"delete version ok", Command{Op: &Delete{Path: "/p/leaf", Version: 1}}, errcode.Ok},
		{"delete root", Command{Op: &Delete{Path: "/", Version: -1}}, errcode.BadArguments},
		{"delete bad path", Command{Op: &Delete{Path: "p", Version: -1}}, errcode.BadArguments},
		{"delete reserved", Command{Op: &Delete{Path: "/arbor", Version: -1}}, errcode.NoAuth},
		{"delete missing", Command{Op: &Delete{Path: "/nope", Version: -1}}, errcode.NoNode},
		{"delete no DELETE on parent", Command{Op: &Delete{Path: "/locked/kid", Version: -1}}, errcode.NoAuth},
		{"delete bad version", Command{Op: &Delete{Path: "/p/leaf", Version: 0}}, errcode.BadVersion},
		{"delete not empty", Command{Op: &Delete{Path: "/p", Version: -1}}, errcode.NotEmpty},

		{"set ok", Command{Op: &SetData{Path: "/p/leaf", Data: []byte("z"), Version: 1}}, errcode.Ok},
		{"set bad version", Command{Op: &SetData{Path: "/p/leaf", Version: 7}}, errcode.BadVersion},
		{"set missing", Command{Op: &SetData{Path: "/nope", Version: -1}}, errcode.NoNode},
		{"set too large", Command{Op: &SetData{Path: "/p/leaf", Data: []byte(long), Version: -1}}, errcode.BadArguments},
		{"set no WRITE", Command{Identities: []Identity{bob}, Op: &SetData{Path: "/locked", Version: -1}}, errcode.NoAuth},
		{"set reserved", Command{Op: &SetData{Path: "/arbor", Version: -1}}, errcode.NoAuth},

		{"check ok", Command{Op: &Check{Path: "/p/leaf", Version: 1}}, errcode.Ok},
		{"check any", Command{Op: &Check{Path: "/p/leaf", Version: -1}}, errcode.Ok},
		{"check bad version", Command{Op: &Check{Path: "/p/leaf", Version: 0}}, errcode.BadVersion},
		{"check missing", Command{Op: &Check{Path: "/nope", Version: -1}}, errcode.NoNode},
		{"check no READ", Command{Op: &Check{Path: "/secret", Version: -1}}, errcode.NoAuth},
		{"check reserved is a read", Command{Op: &Check{Path: "/arbor", Version: 0}}, errcode.Ok},

		{"setacl ok", Command{Op: &SetACL{Path: "/p/leaf", ACL: ReadACL(), Version: 0}}, errcode.Ok},
		{"setacl bad version", Command{Op: &SetACL{Path: "/p/leaf", ACL: ReadACL(), Version: 1}}, errcode.BadVersion},
		{"setacl invalid", Command{Op: &SetACL{Path: "/p/leaf", ACL: nil, Version: -1}}, errcode.InvalidACL},
		{"setacl missing", Command{Op: &SetACL{Path: "/nope", ACL: ReadACL(), Version: -1}}, errcode.NoNode},
		{"setacl no ADMIN", Command{Op: &SetACL{Path: "/locked", ACL: OpenACL(), Version: -1}}, errcode.NoAuth},
		{"setacl reserved", Command{Op: &SetACL{Path: "/arbor", ACL: OpenACL(), Version: -1}}, errcode.NoAuth},

		{"session create dup", Command{Op: &CreateSession{ID: 7, TimeoutMs: 10}}, errcode.BadArguments},
		{"session create zero", Command{Op: &CreateSession{ID: 0, TimeoutMs: 10}}, errcode.BadArguments},
		{"session create timeout", Command{Op: &CreateSession{ID: 8, TimeoutMs: 0}}, errcode.BadArguments},
		{"session close unknown", Command{Op: &CloseSession{ID: 99}}, errcode.SessionExpired},
		{"reap not system", Command{Op: &Reap{Path: "/p/leaf"}}, errcode.NoAuth},
		{"reap not container", Command{System: true, Op: &Reap{Path: "/p/leaf"}}, errcode.BadArguments},
		{"reap missing", Command{System: true, Op: &Reap{Path: "/nope"}}, errcode.NoNode},
		{"reap fresh container", Command{System: true, Op: &Reap{Path: "/box"}}, errcode.BadVersion},
		{"multi bad op", Command{Op: &Multi{Ops: []Op{mk("/m"), &SetACL{Path: "/p", ACL: OpenACL(), Version: -1}}}}, errcode.BadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			errorsFixture(h)
			r := h.apply(tt.cmd)
			if r.Code != tt.want {
				t.Fatalf("code %s, want %s", r.Code.Name(), tt.want.Name())
			}
			if r.Code == errcode.Ok {
				return
			}
			if len(r.Events) != 0 {
				t.Fatalf("failed command produced events %v", r.Events)
			}
			// A failed command changes nothing but the applied index: the
			// state equals the fixture's followed by an empty entry.
			after, _ := h.tr.Digest()
			h2 := newHarness(t)
			errorsFixture(h2)
			if _, err := h2.tr.Apply([]Entry{{Index: h2.tr.Applied() + 1}}); err != nil {
				t.Fatal(err)
			}
			if want, _ := h2.tr.Digest(); after != want {
				t.Fatalf("failed command changed the state: digest %v, want %v", after, want)
			}
		})
	}
}

// errorsFixture builds the state TestOpErrors runs each case against.
func errorsFixture(h *harness) {
	h.must(&CreateSession{ID: 7, TimeoutMs: 1000})
	h.must(mk("/p"))
	h.must(&Create{Path: "/p/leaf", ACL: OpenACL(), Data: []byte("v0")})
	h.must(&SetData{Path: "/p/leaf", Data: []byte("v1"), Version: 0})
	h.apply(Command{Session: 7, Op: &Create{Path: "/p/eph", ACL: OpenACL(), Mode: Ephemeral}})
	h.must(&Create{Path: "/locked", ACL: aclFor(PermCreate|PermDelete|PermRead, alice)})
	h.apply(Command{Identities: []Identity{alice}, Op: mk("/locked/kid")})
	h.must(&Create{Path: "/secret", ACL: aclFor(PermAll, alice)})
	h.must(&Create{Path: "/box", ACL: OpenACL(), Mode: Container})
}

func TestStatSemantics(t *testing.T) {
	h := newHarness(t)
	h.now = 5000
	c := h.must(&Create{Path: "/a", ACL: OpenACL(), Data: []byte("hi")})
	z1 := int64(c.Index)
	want := Stat{Czxid: z1, Mzxid: z1, Pzxid: z1, Ctime: 5000, Mtime: 5000, DataLength: 2}
	if c.Stat != want || h.stat("/a") != want {
		t.Fatalf("create stat %+v / %+v, want %+v", c.Stat, h.stat("/a"), want)
	}
	h.now = 6000
	k := h.must(mk("/a/k"))
	st := h.stat("/a")
	if st.Pzxid != int64(k.Index) || st.Cversion != 1 || st.NumChildren != 1 || st.Mzxid != z1 || st.Mtime != 5000 || st.Version != 0 {
		t.Fatalf("after child create: %+v", st)
	}
	d := h.must(&Delete{Path: "/a/k", Version: -1})
	st = h.stat("/a")
	if st.Pzxid != int64(d.Index) || st.Cversion != 2 || st.NumChildren != 0 {
		t.Fatalf("after child delete: %+v (cversion counts creations plus deletions)", st)
	}
	h.now = 7000
	s := h.must(&SetData{Path: "/a", Data: []byte("hello"), Version: 0})
	st = h.stat("/a")
	if st != s.Stat || st.Mzxid != int64(s.Index) || st.Mtime != 7000 || st.Version != 1 || st.DataLength != 5 || st.Czxid != z1 || st.Ctime != 5000 {
		t.Fatalf("after setData: %+v", st)
	}
	h.must(&SetData{Path: "/a", Data: nil, Version: -1})
	data, st, _ := h.tr.Get("/a", nil)
	if data != nil || st.DataLength != 0 || st.Version != 2 {
		t.Fatalf("empty data: %q %+v", data, st)
	}
	a := h.must(&SetACL{Path: "/a", ACL: ReadACL(), Version: 0})
	st = h.stat("/a")
	if st.Aversion != 1 || st.Version != 2 || a.Stat != st {
		t.Fatalf("after setACL: %+v", st)
	}
	acl, _, err := h.tr.GetACL("/a", nil)
	if err != nil || !reflect.DeepEqual(acl, ReadACL()) {
		t.Fatalf("acl %v %v", acl, err)
	}
}

func TestSequential(t *testing.T) {
	h := newHarness(t)
	h.must(mk("/q"))
	seq := func(prefix string, mode Mode) string {
		r := h.apply(Command{Session: 7, Op: &Create{Path: prefix, ACL: OpenACL(), Mode: mode}})
		if r.Code != errcode.Ok {
			t.Fatalf("create %s: %s", prefix, r.Code.Name())
		}
		return r.Path
	}
	h.must(&CreateSession{ID: 7, TimeoutMs: 1000})
	got := []string{seq("/q/x-", PersistentSequential), seq("/q/", EphemeralSequential)}
	h.must(mk("/q/plain"))
	h.must(&Delete{Path: "/q/plain", Version: -1})
	h.must(&Delete{Path: got[0], Version: -1})
	// Deletions do not reduce the counter: the next suffix is the count of
	// creations so far.
	got = append(got, seq("/q/x-", PersistentSequential))
	want := []string{"/q/x-0000000000", "/q/0000000001", "/q/x-0000000003"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if st := h.stat("/q/0000000001"); st.EphemeralOwner != 7 {
		t.Fatalf("ephemeral owner %d", st.EphemeralOwner)
	}
	// A taken sequential name is NodeExists (the manual create is the 5th
	// creation, so the counter is at 5 when the sequential create runs).
	h.must(mk("/q/y-0000000005"))
	if r := h.run(&Create{Path: "/q/y-", ACL: OpenACL(), Mode: PersistentSequential}); r.Code != errcode.NodeExists {
		t.Fatalf("collision: %s", r.Code.Name())
	}
	// Top-level sequential node.
	if r := h.must(&Create{Path: "/", ACL: OpenACL(), Mode: PersistentSequential}); r.Path != "/0000000002" {
		t.Fatalf("root sequential %q", r.Path)
	}
}

func TestCreateParents(t *testing.T) {
	h := newHarness(t)
	r := h.run(&Create{Path: "/a/b/c", ACL: ReadACL(), Data: []byte("d"), Parents: true})
	if r.Code != errcode.Ok || r.Path != "/a/b/c" {
		t.Fatalf("%s %q", r.Code.Name(), r.Path)
	}
	var evs []string
	for _, e := range r.Events {
		evs = append(evs, e.Type.String()+" "+e.Path)
	}
	want := []string{
		"NodeCreated /a", "NodeChildrenChanged /",
		"NodeCreated /a/b", "NodeChildrenChanged /a",
		"NodeCreated /a/b/c", "NodeChildrenChanged /a/b",
	}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("events %v", evs)
	}
	data, _, _ := h.tr.Get("/a/b", nil)
	if data != nil {
		t.Fatalf("parent data %q", data)
	}
	acl, _, _ := h.tr.GetACL("/a", nil)
	if !reflect.DeepEqual(acl, ReadACL()) {
		t.Fatalf("parent acl %v", acl)
	}
	// The parents got the leaf's ACL (READ only), so creating in them needs
	// more rights; NoAuth comes before NodeExists.
	if r := h.run(&Create{Path: "/a/b/c", ACL: OpenACL(), Parents: true}); r.Code != errcode.NoAuth {
		t.Fatalf("create in read-only parent: %s", r.Code.Name())
	}
	if r := h.apply(Command{Identities: []Identity{super}, Op: &Create{Path: "/a/b/c", ACL: OpenACL(), Parents: true}}); r.Code != errcode.NodeExists {
		t.Fatalf("existing leaf: %s", r.Code.Name())
	}
	if r := h.run(&Create{Path: "/x/", ACL: OpenACL(), Parents: true, Mode: PersistentSequential}); r.Path != "/x/0000000000" {
		t.Fatalf("sequential with parents: %s %q", r.Code.Name(), r.Path)
	}
}

func TestACLs(t *testing.T) {
	h := newHarness(t)
	// "auth" expands to every digest identity of the caller, without duplicates.
	r := h.apply(Command{Identities: []Identity{alice, bob, alice}, Op: &Create{Path: "/n", ACL: []ACL{{PermAll, SchemeAuth, ""}, {PermRead, SchemeWorld, "anyone"}}}})
	if r.Code != errcode.Ok {
		t.Fatal(r.Code.Name())
	}
	acl, _, err := h.tr.GetACL("/n", []Identity{bob})
	want := []ACL{{PermAll, SchemeDigest, alice.ID}, {PermAll, SchemeDigest, bob.ID}, {PermRead, SchemeWorld, "anyone"}}
	if err != nil || !reflect.DeepEqual(acl, want) {
		t.Fatalf("acl %v %v", acl, err)
	}
	h.must(&Create{Path: "/w", ACL: []ACL{{PermWrite, SchemeWorld, "anyone"}}})
	h.must(&Create{Path: "/adm", ACL: aclFor(PermAdmin, alice)})
	tests := []struct {
		name string
		err  error
	}{
		{"get without READ", func() error { _, _, err := h.tr.Get("/w", nil); return err }()},
		{"children without READ", func() error { _, _, err := h.tr.Children("/w", nil); return err }()},
		{"getACL without READ or ADMIN", func() error { _, _, err := h.tr.GetACL("/w", nil); return err }()},
		{"count without READ", func() error { _, err := h.tr.CountDescendants("/w", nil); return err }()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, errcode.NoAuth) {
			t.Errorf("%s: %v, want NoAuth", tt.name, tt.err)
		}
	}
	if _, _, err := h.tr.GetACL("/adm", []Identity{alice}); err != nil {
		t.Errorf("getACL with ADMIN: %v", err)
	}
	if _, err := h.tr.Exists("/w"); err != nil {
		t.Errorf("exists needs no permission: %v", err)
	}
	if _, _, err := h.tr.Get("/w", []Identity{super}); err != nil {
		t.Errorf("super: %v", err)
	}
	if r := h.apply(Command{Identities: []Identity{bob}, Op: &SetData{Path: "/n", Data: []byte("b"), Version: -1}}); r.Code != errcode.Ok {
		t.Errorf("bob writes via auth ACL: %s", r.Code.Name())
	}
}

func TestMulti(t *testing.T) {
	h := newHarness(t)
	h.must(mk("/m"))
	r := h.must(&Multi{Ops: []Op{
		mk("/m/a"), mk("/m/a/b"), &SetData{Path: "/m/a", Data: []byte("x"), Version: 0},
		&Check{Path: "/m/a", Version: 1}, &Delete{Path: "/m/a/b", Version: -1},
	}})
	if len(r.Ops) != 5 || r.Ops[0].Path != "/m/a" || r.Ops[2].Stat.Version != 1 {
		t.Fatalf("results %+v", r.Ops)
	}
	for _, o := range r.Ops {
		if o.Code != errcode.Ok {
			t.Fatalf("op %+v", o)
		}
	}
	if len(r.Events) != 7 {
		t.Fatalf("events %v", r.Events)
	}
	r = h.run(&Multi{Ops: []Op{
		mk("/m/c"), &SetData{Path: "/m/a", Version: 1}, &Check{Path: "/m/a", Version: 1}, mk("/m/d"),
	}})
	wantCodes := []errcode.Code{errcode.Ok, errcode.Ok, errcode.BadVersion, errcode.RuntimeInconsistency}
	var got []errcode.Code
	for _, o := range r.Ops {
		got = append(got, o.Code)
	}
	if r.Code != errcode.BadVersion || !reflect.DeepEqual(got, wantCodes) || r.Ops[0].Path != "" {
		t.Fatalf("failed multi: %s %v", r.Code.Name(), r.Ops)
	}
	if h.exists("/m/c") || len(r.Events) != 0 {
		t.Fatal("failed multi left changes")
	}
	if _, d, _ := h.tr.Get("/m/a", nil); d.Version != 1 {
		t.Fatalf("failed multi changed version: %+v", d)
	}
	if r := h.must(&Multi{}); len(r.Ops) != 0 {
		t.Fatalf("empty multi: %+v", r)
	}
}

func TestSessions(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 1, TimeoutMs: 4000, PasswordDigest: []byte("pw")})
	h.must(&CreateSession{ID: -5, TimeoutMs: 2000})
	h.must(mk("/s"))
	for _, p := range []string{"/s/b", "/s/a", "/c"} {
		if r := h.apply(Command{Session: 1, Op: &Create{Path: p, ACL: OpenACL(), Mode: Ephemeral}}); r.Code != errcode.Ok {
			t.Fatal(r.Code.Name())
		}
	}
	h.apply(Command{Session: -5, Op: &Create{Path: "/s/other", ACL: OpenACL(), Mode: Ephemeral}})
	ss, _ := h.tr.Sessions()
	if len(ss) != 2 || ss[0].ID != -5 || ss[1].ID != 1 || string(ss[1].PasswordDigest) != "pw" || ss[1].TimeoutMs != 4000 {
		t.Fatalf("sessions %+v", ss)
	}
	if e, _ := h.tr.Ephemerals(1, "/s/"); !reflect.DeepEqual(e, []string{"/s/a", "/s/b"}) {
		t.Fatalf("ephemerals %v", e)
	}
	if e, _ := h.tr.Ephemerals(1, ""); len(e) != 3 {
		t.Fatalf("all ephemerals %v", e)
	}
	r := h.run(&CloseSession{ID: 1, Expired: true})
	var evs []string
	for _, e := range r.Events {
		evs = append(evs, e.Type.String()+" "+e.Path)
	}
	want := []string{
		"NodeDeleted /c", "NodeChildrenChanged /",
		"NodeDeleted /s/a", "NodeChildrenChanged /s",
		"NodeDeleted /s/b", "NodeChildrenChanged /s",
	}
	if r.Code != errcode.Ok || !reflect.DeepEqual(evs, want) {
		t.Fatalf("close: %s %v", r.Code.Name(), evs)
	}
	if h.exists("/s/a") || h.exists("/c") || !h.exists("/s/other") {
		t.Fatal("ephemerals after close")
	}
	if _, err := h.tr.Session(1); !errors.Is(err, errcode.SessionExpired) {
		t.Fatalf("closed session: %v", err)
	}
	if r := h.apply(Command{Session: 1, Op: mk("/late")}); r.Code != errcode.SessionExpired {
		t.Fatalf("write from closed session: %s", r.Code.Name())
	}
	// Ephemerals created and the session closed within one applied run.
	res, err := h.tr.Apply([]Entry{
		{Index: h.tr.Applied() + 1, Cmd: &Command{Op: &CreateSession{ID: 9, TimeoutMs: 10}}},
		{Index: h.tr.Applied() + 2, Cmd: &Command{Session: 9, Op: &Create{Path: "/s/e9", ACL: OpenACL(), Mode: Ephemeral}}},
		{Index: h.tr.Applied() + 3, Cmd: &Command{Op: &CloseSession{ID: 9}}},
	})
	if err != nil || res[2].Code != errcode.Ok || len(res[2].Events) != 2 || h.exists("/s/e9") {
		t.Fatalf("same-run close: %v %+v", err, res)
	}
}

func TestReap(t *testing.T) {
	h := newHarness(t)
	h.must(&Create{Path: "/box", ACL: OpenACL(), Mode: Container})
	h.must(&Create{Path: "/ttl", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: 100})
	h.must(&Create{Path: "/ttl-full", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: 100})
	h.must(mk("/ttl-full/kid"))
	cands := func(now int64) []string {
		c, err := h.tr.DeletionCandidates(now, 10)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := cands(1050); len(c) != 0 {
		t.Fatalf("early candidates %v", c)
	}
	if c := cands(1101); !reflect.DeepEqual(c, []string{"/ttl"}) {
		t.Fatalf("ttl candidates %v", c)
	}
	h.must(mk("/box/x"))
	h.must(&Delete{Path: "/box/x", Version: -1})
	if c := cands(1101); !reflect.DeepEqual(c, []string{"/box", "/ttl"}) {
		t.Fatalf("candidates %v", c)
	}
	if c, _ := h.tr.DeletionCandidates(1101, 1); len(c) != 1 {
		t.Fatalf("limit: %v", c)
	}
	reap := func(p string, now int64) errcode.Code {
		return h.apply(Command{System: true, TimeMs: now, Op: &Reap{Path: p}}).Code
	}
	if c := reap("/ttl", 1100); c != errcode.BadVersion {
		t.Fatalf("reap unexpired ttl: %s", c.Name())
	}
	if c := reap("/ttl-full", 5000); c != errcode.NotEmpty {
		t.Fatalf("reap ttl with child: %s", c.Name())
	}
	if reap("/ttl", 1101) != errcode.Ok || reap("/box", 1101) != errcode.Ok || h.exists("/ttl") || h.exists("/box") {
		t.Fatal("reap")
	}
	if c := cands(1 << 40); !reflect.DeepEqual(c, []string(nil)) {
		t.Fatalf("after reap %v", c)
	}
	h.must(&SetData{Path: "/ttl-full", Version: -1}) // mtime moves: not yet expired
	h.must(&Delete{Path: "/ttl-full/kid", Version: -1})
	if c := cands(h.now + 100); len(c) != 0 {
		t.Fatalf("modified ttl %v", c)
	}
}

func TestReads(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/r", "/r/b", "/r/a", "/r/c", "/r/a/x", "/r/a/x/y", "/rr"} {
		h.must(mk(p))
	}
	kids, st, err := h.tr.Children("/r", nil)
	if err != nil || !reflect.DeepEqual(kids, []string{"a", "b", "c"}) || st.NumChildren != 3 {
		t.Fatalf("children %v %+v %v", kids, st, err)
	}
	if kids, _, _ := h.tr.Children("/", nil); !reflect.DeepEqual(kids, []string{"arbor", "r", "rr"}) {
		t.Fatalf("root children %v", kids)
	}
	if n, err := h.tr.CountDescendants("/r", nil); n != 5 || err != nil {
		t.Fatalf("descendants %d %v", n, err)
	}
	if n, _ := h.tr.CountDescendants("/", nil); n != 8 {
		t.Fatalf("all descendants %d", n)
	}
	for _, p := range []string{"", "r", "/r/", "/r/./a"} {
		if _, _, err := h.tr.Get(p, nil); !errors.Is(err, errcode.BadArguments) {
			t.Errorf("get %q: %v", p, err)
		}
	}
	if _, err := h.tr.Exists("/nope"); !errors.Is(err, errcode.NoNode) {
		t.Errorf("exists missing: %v", err)
	}
	rs, idx, err := h.tr.ReadMulti([]ReadOp{{ReadGet, "/r"}, {ReadChildren, "/r/a"}, {ReadExists, "/nope"}, {ReadGet, "bad"}}, nil)
	if err != nil || idx != h.tr.Applied() {
		t.Fatal(err, idx)
	}
	if rs[0].Code != errcode.Ok || rs[0].Stat.NumChildren != 3 || !reflect.DeepEqual(rs[1].Children, []string{"x"}) ||
		rs[2].Code != errcode.NoNode || rs[3].Code != errcode.BadArguments {
		t.Fatalf("read multi %+v", rs)
	}
}

// TestAppliedNodesDoNotAliasCommands: the caller may reuse a command's
// buffers once Apply returns.
func TestAppliedNodesDoNotAliasCommands(t *testing.T) {
	h := newHarness(t)
	buf := []byte("one")
	h.must(&Create{Path: "/n", ACL: OpenACL(), Data: buf})
	copy(buf, "XXX")
	h.must(&SetACL{Path: "/n", ACL: ReadACL(), Version: -1}) // rewrites /n from the apply cache
	buf2 := []byte("two")
	h.must(&Create{Path: "/m", ACL: OpenACL(), Data: buf2})
	h.must(&SetData{Path: "/m", Data: buf2, Version: -1})
	copy(buf2, "YYY")
	h.must(&SetACL{Path: "/m", ACL: ReadACL(), Version: -1})
	for p, want := range map[string]string{"/n": "one", "/m": "two"} {
		if data, _, err := h.tr.Get(p, nil); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", p, data, err, want)
		}
	}
}

func TestApplyRejectsGaps(t *testing.T) {
	tr := newTestTree(t, Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("apply of index 2 on a fresh tree did not panic")
		}
	}()
	tr.Apply([]Entry{{Index: 2}})
}
