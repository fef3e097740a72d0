package tree

import (
	"strings"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// caller is what ACL checks need to know of a command's or a read's caller.
type caller struct {
	super   bool
	digests []string // the IDs of the caller's digest identities
}

func newCaller(ids []Identity) caller {
	var c caller
	for _, id := range ids {
		switch id.Scheme {
		case SchemeSuper:
			c.super = true
		case SchemeDigest:
			c.digests = append(c.digests, id.ID)
		}
	}
	return c
}

// allowed reports whether acl grants the caller any of the bits in perm.
func (c *caller) allowed(acl []ACL, perm Perm) bool {
	if c.super {
		return true
	}
	for _, e := range acl {
		if e.Perms&perm == 0 {
			continue
		}
		switch e.Scheme {
		case SchemeWorld:
			if e.ID == "anyone" {
				return true
			}
		case SchemeDigest:
			for _, d := range c.digests {
				if d == e.ID {
					return true
				}
			}
		}
	}
	return false
}

// fixACL validates an ACL given to create or setACL and expands "auth"
// entries into the caller's digest identities, dropping duplicates. It
// returns the ACL to store and whether it is exactly the open ACL.
func (t *Tree) fixACL(in []ACL, c *caller) ([]ACL, bool, errcode.Code) {
	if len(in) == 0 || len(in) > MaxACLEntries {
		return nil, false, errcode.InvalidACL
	}
	if len(in) == 1 && in[0] == t.openACL[0] {
		return t.openACL, true, errcode.Ok
	}
	out := make([]ACL, 0, len(in))
	add := func(e ACL) {
		for _, o := range out {
			if o == e {
				return
			}
		}
		out = append(out, e)
	}
	for _, e := range in {
		if e.Perms < 1 || e.Perms > PermAll {
			return nil, false, errcode.InvalidACL
		}
		switch e.Scheme {
		case SchemeWorld:
			if e.ID != "anyone" {
				return nil, false, errcode.InvalidACL
			}
			add(e)
		case SchemeDigest:
			if !validDigestID(e.ID) {
				return nil, false, errcode.InvalidACL
			}
			add(e)
		case SchemeAuth:
			if len(c.digests) == 0 {
				return nil, false, errcode.InvalidACL
			}
			for _, d := range c.digests {
				add(ACL{Perms: e.Perms, Scheme: SchemeDigest, ID: d})
			}
		default:
			return nil, false, errcode.InvalidACL
		}
		if len(out) > MaxACLEntries {
			return nil, false, errcode.InvalidACL
		}
	}
	if len(out) == 1 && out[0] == t.openACL[0] {
		return t.openACL, true, errcode.Ok
	}
	return out, false, errcode.Ok
}

// validDigestID reports whether id has the form "user:hash" with exactly
// one colon and both parts non-empty, as ZooKeeper's digest provider
// requires.
func validDigestID(id string) bool {
	i := strings.IndexByte(id, ':')
	return i > 0 && i < len(id)-1 && strings.IndexByte(id[i+1:], ':') < 0
}

// Allowed reports whether acl grants a caller with the identities ids any
// of the bits in perm, by the rules every operation checks. The server uses
// it to deliver a watch event only to sessions allowed to READ the node.
func Allowed(acl []ACL, ids []Identity, perm Perm) bool {
	c := newCaller(ids)
	return c.allowed(acl, perm)
}
