package tree

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/arbor-coord/arbor/internal/protoscan"
)

// decodeFast decodes the commands a client's writes usually become — a
// Create, SetData, Delete or Check with its session, identities and Seq —
// straight from the wire format, without DecodeCommand's schema scan and
// generic unmarshal (which cost every member a few microseconds per write
// on the apply loop).
//
// It is deliberately narrow: it accepts only input that DecodeCommand
// accepts, and returns what DecodeCommand returns for it (FuzzDecodeFast
// checks both). On anything else — another op, a field given twice or out
// of order of what it knows, a value it does not expect, malformed input —
// it reports false, and DecodeCommand's general path decides and words the
// error.
func decodeFast(b []byte) (*Command, bool) {
	if len(b) > MaxCommandBytes {
		return nil, false
	}
	c := &Command{}
	var seen uint32 // one bit per top-level field number
	aclEntries := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 18 {
			return nil, false
		}
		b = b[n:]
		if num != 6 { // identities is the only repeated field
			if seen&(1<<num) != 0 {
				return nil, false
			}
			seen |= 1 << num
		}
		if typ == protowire.VarintType {
			v, ok := protoscan.Varint(&b)
			if !ok {
				return nil, false
			}
			switch num {
			case 1:
				if v != CommandFormat {
					return nil, false
				}
			case 2:
				c.ID.Member = v
			case 3:
				c.ID.Seq = v
			case 4:
				c.Session = int64(v)
			case 5:
				c.TimeMs = int64(v)
			case 7:
				if v > 1 {
					return nil, false
				}
				c.System = v == 1
			case 17:
				c.Seq = v
			case 18:
				c.LowestUnacked = v
			default:
				return nil, false
			}
			continue
		}
		if typ != protowire.BytesType {
			return nil, false
		}
		m, ok := protoscan.Bytes(&b)
		if !ok {
			return nil, false
		}
		var op Op
		switch num {
		case 6:
			if len(c.Identities) == MaxIdentities {
				return nil, false
			}
			id, ok := fastIdentity(m)
			if !ok {
				return nil, false
			}
			c.Identities = append(c.Identities, id)
			continue
		case 8:
			cr, ok := fastCreate(m)
			if !ok || aclEntries+len(cr.ACL) > MaxCommandACLEntries {
				return nil, false
			}
			aclEntries += len(cr.ACL)
			op = cr
		case 9, 11:
			p, _, v, ok := fastPathVersion(m, false)
			if !ok {
				return nil, false
			}
			if num == 9 {
				op = &Delete{Path: p, Version: v}
			} else {
				op = &Check{Path: p, Version: v}
			}
		case 10:
			p, d, v, ok := fastPathVersion(m, true)
			if !ok {
				return nil, false
			}
			op = &SetData{Path: p, Data: d, Version: v}
		default:
			return nil, false
		}
		if c.Op != nil {
			return nil, false // two ops
		}
		c.Op = op
	}
	if seen&(1<<1) == 0 || c.Op == nil {
		return nil, false
	}
	return c, true
}

func fastIdentity(m []byte) (Identity, bool) {
	var id Identity
	ok := protoscan.Fields(m, 2, 0, nil, func(num protowire.Number, v []byte) bool {
		var ok bool
		if num == 1 {
			id.Scheme, ok = protoscan.String(v)
		} else {
			id.ID, ok = protoscan.String(v)
		}
		return ok
	})
	return id, ok
}

func fastACL(m []byte) (ACL, bool) {
	var a ACL
	ok := protoscan.Fields(m, 3, 0, func(num protowire.Number, v uint64) bool {
		if num != 1 {
			return false
		}
		p, ok := protoscan.Int32(v)
		a.Perms = Perm(p)
		return ok
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		switch num {
		case 2:
			a.Scheme, ok = protoscan.String(v)
		case 3:
			a.ID, ok = protoscan.String(v)
		}
		return ok
	})
	return a, ok
}

func fastCreate(m []byte) (*Create, bool) {
	cr := &Create{}
	ok := protoscan.Fields(m, 6, 3, func(num protowire.Number, v uint64) bool {
		switch num {
		case 4:
			if v > math.MaxUint8 || !Mode(v).Valid() {
				return false
			}
			cr.Mode = Mode(v)
		case 5:
			cr.TTLMs = int64(v)
		case 6:
			if v > 1 {
				return false
			}
			cr.Parents = v == 1
		default:
			return false
		}
		return true
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		switch num {
		case 1:
			cr.Path, ok = protoscan.String(v)
		case 2:
			cr.Data, ok = protoscan.Data(v), true
		case 3:
			if len(cr.ACL) == MaxACLEntries {
				return false
			}
			var a ACL
			if a, ok = fastACL(v); ok {
				cr.ACL = append(cr.ACL, a)
			}
		}
		return ok
	})
	return cr, ok
}

// fastPathVersion decodes a message of a path (field 1) and a sint32
// version: a SetData (withData: data is field 2, the version field 3), a
// Delete or a Check (the version field 2).
func fastPathVersion(m []byte, withData bool) (p string, data []byte, version int32, ok bool) {
	versionField, dataField := protowire.Number(2), protowire.Number(0)
	if withData {
		versionField, dataField = 3, 2
	}
	ok = protoscan.Fields(m, versionField, 0, func(num protowire.Number, v uint64) bool {
		var ok bool
		if num == versionField {
			version, ok = protoscan.Sint32(v)
		}
		return ok
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		switch num {
		case 1:
			p, ok = protoscan.String(v)
		case dataField:
			data, ok = protoscan.Data(v), true
		}
		return ok
	})
	return p, data, version, ok
}

// encodeFast encodes the commands a client's writes usually become — a
// Create, SetData, Delete or Check with its session, identities and Seq —
// byte for byte as EncodeCommand's general path (proto.Marshal) does,
// without building the protobuf messages first. It declines anything
// else, and anything the general path would refuse, which then decides and
// words the error (FuzzEncodeFast checks both).
func encodeFast(c *Command) ([]byte, bool) {
	if c == nil || len(c.Identities) > MaxIdentities {
		return nil, false
	}
	var (
		num    protowire.Number
		opSize int
	)
	switch op := c.Op.(type) {
	case *Create:
		if op == nil || !op.Mode.Valid() || len(op.ACL) > min(MaxACLEntries, MaxCommandACLEntries) || !utf8.ValidString(op.Path) {
			return nil, false
		}
		num, opSize = 8, protoscan.SizeBytesField(1, len(op.Path))+protoscan.SizeBytesField(2, len(op.Data))+
			protoscan.SizeVarintField(4, uint64(op.Mode))+protoscan.SizeVarintField(5, uint64(op.TTLMs))+protoscan.SizeVarintField(6, protoscan.BoolVarint(op.Parents))
		for _, a := range op.ACL {
			if !utf8.ValidString(a.Scheme) || !utf8.ValidString(a.ID) {
				return nil, false
			}
			opSize += protoscan.SizeMessageField(3, sizeACL(a))
		}
	case *Delete:
		if op == nil || !utf8.ValidString(op.Path) {
			return nil, false
		}
		num, opSize = 9, sizePathVersion(op.Path, nil, op.Version, 2)
	case *SetData:
		if op == nil || !utf8.ValidString(op.Path) {
			return nil, false
		}
		num, opSize = 10, sizePathVersion(op.Path, op.Data, op.Version, 3)
	case *Check:
		if op == nil || !utf8.ValidString(op.Path) {
			return nil, false
		}
		num, opSize = 11, sizePathVersion(op.Path, nil, op.Version, 2)
	default:
		return nil, false
	}
	size := protoscan.SizeVarintField(1, CommandFormat) + protoscan.SizeVarintField(2, c.ID.Member) + protoscan.SizeVarintField(3, c.ID.Seq) +
		protoscan.SizeVarintField(4, uint64(c.Session)) + protoscan.SizeVarintField(5, uint64(c.TimeMs)) +
		protoscan.SizeVarintField(7, protoscan.BoolVarint(c.System)) + protoscan.SizeMessageField(num, opSize) +
		protoscan.SizeVarintField(17, c.Seq) + protoscan.SizeVarintField(18, c.LowestUnacked)
	for _, id := range c.Identities {
		if !utf8.ValidString(id.Scheme) || !utf8.ValidString(id.ID) {
			return nil, false
		}
		size += protoscan.SizeMessageField(6, sizeIdentity(id))
	}
	if size > MaxCommandBytes {
		return nil, false
	}
	b := make([]byte, 0, size)
	b = protoscan.AppendVarintField(b, 1, CommandFormat)
	b = protoscan.AppendVarintField(b, 2, c.ID.Member)
	b = protoscan.AppendVarintField(b, 3, c.ID.Seq)
	b = protoscan.AppendVarintField(b, 4, uint64(c.Session))
	b = protoscan.AppendVarintField(b, 5, uint64(c.TimeMs))
	for _, id := range c.Identities {
		b = protoscan.AppendMessageHeader(b, 6, sizeIdentity(id))
		b = protoscan.AppendStringField(b, 1, id.Scheme)
		b = protoscan.AppendStringField(b, 2, id.ID)
	}
	b = protoscan.AppendVarintField(b, 7, protoscan.BoolVarint(c.System))
	// Marshal writes the op, a oneof, after the other fields.
	b = protoscan.AppendVarintField(b, 17, c.Seq)
	b = protoscan.AppendVarintField(b, 18, c.LowestUnacked)
	b = protoscan.AppendMessageHeader(b, num, opSize)
	switch op := c.Op.(type) {
	case *Create:
		b = protoscan.AppendStringField(b, 1, op.Path)
		b = protoscan.AppendBytesField(b, 2, op.Data)
		for _, a := range op.ACL {
			b = protoscan.AppendMessageHeader(b, 3, sizeACL(a))
			b = protoscan.AppendVarintField(b, 1, uint64(int64(int32(a.Perms))))
			b = protoscan.AppendStringField(b, 2, a.Scheme)
			b = protoscan.AppendStringField(b, 3, a.ID)
		}
		b = protoscan.AppendVarintField(b, 4, uint64(op.Mode))
		b = protoscan.AppendVarintField(b, 5, uint64(op.TTLMs))
		b = protoscan.AppendVarintField(b, 6, protoscan.BoolVarint(op.Parents))
	case *Delete:
		b = appendPathVersion(b, op.Path, nil, op.Version, 2)
	case *SetData:
		b = appendPathVersion(b, op.Path, op.Data, op.Version, 3)
	case *Check:
		b = appendPathVersion(b, op.Path, nil, op.Version, 2)
	}
	return b, true
}

func sizeACL(a ACL) int {
	return protoscan.SizeVarintField(1, uint64(int64(int32(a.Perms)))) + protoscan.SizeBytesField(2, len(a.Scheme)) + protoscan.SizeBytesField(3, len(a.ID))
}

func sizeIdentity(id Identity) int {
	return protoscan.SizeBytesField(1, len(id.Scheme)) + protoscan.SizeBytesField(2, len(id.ID))
}

// sizePathVersion and appendPathVersion encode a Delete or Check (path 1,
// version 2) or a SetData (path 1, data 2, version 3).
func sizePathVersion(path string, data []byte, version int32, versionField protowire.Number) int {
	return protoscan.SizeBytesField(1, len(path)) + protoscan.SizeBytesField(2, len(data)) +
		protoscan.SizeVarintField(versionField, protowire.EncodeZigZag(int64(version)))
}

func appendPathVersion(b []byte, path string, data []byte, version int32, versionField protowire.Number) []byte {
	b = protoscan.AppendStringField(b, 1, path)
	b = protoscan.AppendBytesField(b, 2, data)
	return protoscan.AppendVarintField(b, versionField, protowire.EncodeZigZag(int64(version)))
}
