package server

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/tree"
)

// This file translates between the protocol's messages (internal/wire)
// and the state machine's types (tree). It is the whole of the framing's
// reach into the pipeline: a frontend for another protocol would replace
// only this.

// writeOp builds the tree op of a write request, or reports that the
// request is not a write.
func writeOp(r *wire.Request) (tree.Op, bool) {
	switch op := r.GetOp().(type) {
	case *wire.Request_Create:
		return createOp(op.Create), true
	case *wire.Request_Delete:
		return &tree.Delete{Path: op.Delete.GetPath(), Version: op.Delete.GetVersion()}, true
	case *wire.Request_SetData:
		return &tree.SetData{Path: op.SetData.GetPath(), Data: op.SetData.GetData(), Version: op.SetData.GetVersion()}, true
	case *wire.Request_Check:
		return &tree.Check{Path: op.Check.GetPath(), Version: op.Check.GetVersion()}, true
	case *wire.Request_SetAcl:
		return &tree.SetACL{Path: op.SetAcl.GetPath(), ACL: treeACL(op.SetAcl.GetAcl()), Version: op.SetAcl.GetVersion()}, true
	case *wire.Request_Multi:
		m := &tree.Multi{Ops: make([]tree.Op, 0, len(op.Multi.GetOps()))}
		for _, o := range op.Multi.GetOps() {
			switch x := o.GetOp().(type) {
			case *wire.MultiOp_Create:
				m.Ops = append(m.Ops, createOp(x.Create))
			case *wire.MultiOp_Delete:
				m.Ops = append(m.Ops, &tree.Delete{Path: x.Delete.GetPath(), Version: x.Delete.GetVersion()})
			case *wire.MultiOp_SetData:
				m.Ops = append(m.Ops, &tree.SetData{Path: x.SetData.GetPath(), Data: x.SetData.GetData(), Version: x.SetData.GetVersion()})
			case *wire.MultiOp_Check:
				m.Ops = append(m.Ops, &tree.Check{Path: x.Check.GetPath(), Version: x.Check.GetVersion()})
			}
		}
		return m, true
	}
	return nil, false
}

func createOp(c *wire.Create) *tree.Create {
	return &tree.Create{
		Path:    c.GetPath(),
		Data:    c.GetData(),
		ACL:     treeACL(c.GetAcl()),
		Mode:    tree.Mode(c.GetMode()),
		TTLMs:   c.GetTtlMs(),
		Parents: c.GetParents(),
	}
}

func treeACL(in []*wire.ACL) []tree.ACL {
	out := make([]tree.ACL, len(in))
	for i, a := range in {
		out[i] = tree.ACL{Perms: tree.Perm(a.GetPerms()), Scheme: a.GetScheme(), ID: a.GetId()}
	}
	return out
}

func wireACL(in []tree.ACL) []*wire.ACL {
	out := make([]*wire.ACL, len(in))
	for i, a := range in {
		out[i] = &wire.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, Id: a.ID}
	}
	return out
}

func wireStat(s tree.Stat) *wire.Stat {
	return &wire.Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid,
	}
}

// writeResponse renders the applied result of a write request.
func writeResponse(r *wire.Request, res tree.Result) *wire.Response {
	out := &wire.Response{Id: r.GetId(), Code: int32(res.Code), Zxid: res.Index}
	if _, multi := r.GetOp().(*wire.Request_Multi); multi {
		ops := r.GetMulti().GetOps()
		mr := &wire.MultiResult{Results: make([]*wire.OpResult, len(res.Ops))}
		for i, o := range res.Ops {
			or := &wire.OpResult{Code: int32(o.Code), Path: o.Path}
			if o.Code == errcode.Ok && i < len(ops) && (ops[i].GetCreate() != nil || ops[i].GetSetData() != nil) {
				or.Stat = wireStat(o.Stat)
			}
			mr.Results[i] = or
		}
		out.Result = &wire.Response_Multi{Multi: mr}
		return out
	}
	if res.Code != errcode.Ok {
		return out
	}
	switch r.GetOp().(type) {
	case *wire.Request_Create:
		out.Result = &wire.Response_Create{Create: &wire.CreateResult{Path: res.Path, Stat: wireStat(res.Stat)}}
	case *wire.Request_SetData, *wire.Request_SetAcl:
		out.Result = &wire.Response_Stat{Stat: &wire.StatResult{Stat: wireStat(res.Stat)}}
	}
	return out
}

// digestIdentity turns the auth of an add_auth with scheme "digest"
// ("user:password") into the identity ACLs name:
// "user:base64(sha1(user:password))", as ZooKeeper's digest provider.
func digestIdentity(auth []byte) (tree.Identity, error) {
	s := string(auth)
	user, _, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		return tree.Identity{}, fmt.Errorf("%w: digest auth must be user:password", errcode.AuthFailed)
	}
	sum := sha1.Sum(auth)
	return tree.Identity{Scheme: tree.SchemeDigest, ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// splitDigestID splits a digest identity into its user and hash.
func splitDigestID(id string) (user, hash string, ok bool) {
	return strings.Cut(id, ":")
}
