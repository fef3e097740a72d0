package tree

import (
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
)

func TestSmoke(t *testing.T) {
	tr := newTestTree(t, Options{})
	cmd := func(op Op) *Command { return &Command{TimeMs: 1000, Op: op} }
	res, err := tr.Apply([]Entry{
		{1, cmd(&Create{Path: "/a", Data: []byte("x"), ACL: OpenACL()})},
		{2, cmd(&Create{Path: "/a/q-", ACL: OpenACL(), Mode: PersistentSequential})},
		{3, cmd(&Create{Path: "/a/q-", ACL: OpenACL(), Mode: PersistentSequential})},
		{4, cmd(&Delete{Path: "/a", Version: -1})},
		{5, cmd(&SetData{Path: "/a", Data: []byte("yy"), Version: 0})},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("%d %v %q %+v %v", r.Index, r.Code.Name(), r.Path, r.Stat, r.Events)
	}
	if res[2].Path != "/a/q-0000000001" || res[3].Code != errcode.NotEmpty {
		t.Fatal("bad")
	}
	data, st, err := tr.Get("/a", nil)
	t.Logf("%q %+v %v", data, st, err)
	kids, st, err := tr.Children("/a", nil)
	t.Logf("%q %+v %v", kids, st, err)
	d, err := tr.Digest()
	t.Log(d, err)
}
