package wire

import (
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/arbor-coord/arbor/internal/protoscan"
)

// The fast paths of this file handle the few message shapes that make up
// nearly every frame, with the strict walkers of protoscan, and hand
// anything else to the general path (scan, Marshal or Unmarshal,
// validation), which decides and words any error. Each is fuzzed against
// the general path: a decoder takes nothing it refuses and decodes the
// same, an encoder writes Marshal's bytes.

// decodeServerMessageFast decodes what a client reads most: a Response
// with no result, or with a create, stat or get_data result. The general
// path's scan and generic unmarshal cost an eighth of a client's own CPU
// per get.
func decodeServerMessageFast(b []byte) (*ServerMessage, bool) {
	if len(b) > MaxFrameBytes {
		return nil, false
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n != 1 || num != 1 || typ != protowire.BytesType {
		return nil, false
	}
	b = b[n:]
	rb, ok := protoscan.Bytes(&b)
	if !ok || len(b) != 0 {
		return nil, false
	}
	r := &Response{}
	ok = protoscan.Fields(rb, 6, 0, func(num protowire.Number, v uint64) bool {
		switch num {
		case 1:
			r.Id = v
		case 2:
			var ok bool
			r.Code, ok = protoscan.Sint32(v)
			return ok
		case 3:
			r.Zxid = v
		default:
			return false
		}
		return true
	}, func(num protowire.Number, v []byte) bool {
		if r.Result != nil {
			return false // a second member of the oneof
		}
		switch num {
		case 4:
			res := &CreateResult{}
			r.Result = &Response_Create{Create: res}
			return protoscan.Fields(v, 2, 0, nil, func(num protowire.Number, v []byte) (ok bool) {
				if num == 1 {
					res.Path, ok = protoscan.String(v)
				} else {
					res.Stat, ok = fastStat(v)
				}
				return ok
			})
		case 5:
			res := &StatResult{}
			r.Result = &Response_Stat{Stat: res}
			return protoscan.Fields(v, 1, 0, nil, func(_ protowire.Number, v []byte) (ok bool) {
				res.Stat, ok = fastStat(v)
				return ok
			})
		case 6:
			res := &GetDataResult{}
			r.Result = &Response_GetData{GetData: res}
			return protoscan.Fields(v, 2, 0, nil, func(num protowire.Number, v []byte) (ok bool) {
				if num == 1 {
					res.Data, ok = protoscan.Data(v), true
				} else {
					res.Stat, ok = fastStat(v)
				}
				return ok
			})
		}
		return false
	})
	if !ok || (r.Id == 0 && r.Code == 0) {
		return nil, false
	}
	return &ServerMessage{Kind: &ServerMessage_Response{Response: r}}, true
}

// fastStat decodes a Stat.
func fastStat(m []byte) (*Stat, bool) {
	st := &Stat{}
	ok := protoscan.Fields(m, 11, 0, func(num protowire.Number, v uint64) bool {
		var ok = true
		switch num {
		case 1:
			st.Czxid = int64(v)
		case 2:
			st.Mzxid = int64(v)
		case 3:
			st.Ctime = int64(v)
		case 4:
			st.Mtime = int64(v)
		case 5:
			st.Version, ok = protoscan.Int32(v)
		case 6:
			st.Cversion, ok = protoscan.Int32(v)
		case 7:
			st.Aversion, ok = protoscan.Int32(v)
		case 8:
			st.EphemeralOwner = int64(v)
		case 9:
			st.DataLength, ok = protoscan.Int32(v)
		case 10:
			st.NumChildren, ok = protoscan.Int32(v)
		case 11:
			st.Pzxid = int64(v)
		}
		return ok
	}, nil)
	return st, ok
}

// maxFastACL bounds the ACL entries of a create the fast path takes: with
// it, no frame it takes comes near MaxFrameElements.
const maxFastACL = 64

// decodeRequestFast decodes the requests a member reads most — create,
// delete, set_data, get_data, exists, get_children and ping — straight
// from the wire format, as decodeServerMessageFast does for a client: it
// accepts only frames DecodeRequest accepts, returns what DecodeRequest
// returns for them (FuzzDecodeRequestFast), and declines the rest.
func decodeRequestFast(b []byte) (*Request, bool) {
	if len(b) > MaxFrameBytes {
		return nil, false
	}
	r := &Request{}
	ok := protoscan.Fields(b, 10, 0, func(num protowire.Number, v uint64) bool {
		switch num {
		case 1:
			r.Id = v
		case 2:
			r.Seq = v
		case 3:
			r.LowestUnackedSeq = v
		default:
			return false
		}
		return true
	}, func(num protowire.Number, v []byte) bool {
		if r.Op != nil {
			return false // a second member of the oneof
		}
		var ok bool
		switch num {
		case 4:
			var c *Create
			c, ok = fastCreate(v)
			r.Op = &Request_Create{Create: c}
		case 5:
			d := &Delete{}
			d.Path, d.Version, _, ok = fastPathDataVersion(v, false)
			r.Op = &Request_Delete{Delete: d}
		case 6:
			s := &SetData{}
			s.Path, s.Version, s.Data, ok = fastPathDataVersion(v, true)
			r.Op = &Request_SetData{SetData: s}
		case 7:
			g := &GetData{}
			g.Path, g.Watch, ok = fastPathWatch(v)
			r.Op = &Request_GetData{GetData: g}
		case 8:
			e := &Exists{}
			e.Path, e.Watch, ok = fastPathWatch(v)
			r.Op = &Request_Exists{Exists: e}
		case 9:
			g := &GetChildren{}
			g.Path, g.Watch, ok = fastPathWatch(v)
			r.Op = &Request_GetChildren{GetChildren: g}
		case 10:
			r.Op, ok = &Request_Ping{Ping: &Ping{}}, len(v) == 0
		}
		return ok
	})
	if !ok || r.Op == nil || r.Id == 0 {
		return nil, false
	}
	if r.IsWrite() {
		ok = r.Seq != 0 && r.LowestUnackedSeq != 0 && r.LowestUnackedSeq <= r.Seq
	} else {
		ok = r.Seq == 0 && r.LowestUnackedSeq == 0
	}
	if !ok {
		return nil, false
	}
	return r, true
}

func fastCreate(m []byte) (*Create, bool) {
	c := &Create{}
	ok := protoscan.Fields(m, 6, 3, func(num protowire.Number, v uint64) bool {
		ok := true
		switch num {
		case 4:
			var mode int32
			mode, ok = protoscan.Int32(v)
			_, known := CreateMode_name[mode]
			ok = ok && known
			c.Mode = CreateMode(mode)
		case 5:
			c.TtlMs = int64(v)
		case 6:
			c.Parents, ok = protoscan.Bool(v)
		default:
			return false
		}
		return ok
	}, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			var ok bool
			c.Path, ok = protoscan.String(v)
			return ok
		case 2:
			c.Data = protoscan.Data(v)
			return true
		case 3:
			if len(c.Acl) == maxFastACL {
				return false
			}
			a, ok := fastACL(v)
			c.Acl = append(c.Acl, a)
			return ok
		}
		return false
	})
	return c, ok
}

func fastACL(m []byte) (*ACL, bool) {
	a := &ACL{}
	ok := protoscan.Fields(m, 3, 0, func(num protowire.Number, v uint64) bool {
		var ok bool
		if num == 1 {
			a.Perms, ok = protoscan.Int32(v)
		}
		return ok
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		switch num {
		case 2:
			a.Scheme, ok = protoscan.String(v)
		case 3:
			a.Id, ok = protoscan.String(v)
		}
		return ok
	})
	return a, ok
}

// fastPathDataVersion decodes a delete (path 1, version 2) or, withData, a
// set_data (path 1, data 2, version 3).
func fastPathDataVersion(m []byte, withData bool) (path string, version int32, data []byte, ok bool) {
	versionField := protowire.Number(2)
	if withData {
		versionField = 3
	}
	ok = protoscan.Fields(m, versionField, 0, func(num protowire.Number, v uint64) bool {
		var ok bool
		if num == versionField {
			version, ok = protoscan.Sint32(v)
		}
		return ok
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		switch {
		case num == 1:
			path, ok = protoscan.String(v)
		case num == 2 && withData:
			data, ok = protoscan.Data(v), true
		}
		return ok
	})
	return path, version, data, ok
}

// fastPathWatch decodes a get_data, exists or get_children: path 1, watch 2.
func fastPathWatch(m []byte) (path string, watch bool, ok bool) {
	ok = protoscan.Fields(m, 2, 0, func(num protowire.Number, v uint64) bool {
		var ok bool
		if num == 2 {
			watch, ok = protoscan.Bool(v)
		}
		return ok
	}, func(num protowire.Number, v []byte) bool {
		var ok bool
		if num == 1 {
			path, ok = protoscan.String(v)
		}
		return ok
	})
	return path, watch, ok
}

// appendServerMessageFast encodes the messages a member sends most — a
// Response with no result, or with a create, stat or get_data result —
// without proto.Marshal's reflection, byte for byte as Marshal would
// (FuzzAppendServerMessageFast checks), and without the validation and
// limits AppendServerMessage applies, which such a message passes. It
// declines anything else, with dst unchanged.
func appendServerMessageFast(dst []byte, m *ServerMessage) ([]byte, bool) {
	k, ok := m.GetKind().(*ServerMessage_Response)
	if !ok || k.Response == nil || m.unknownFields != nil {
		return dst, false
	}
	r := k.Response
	if (r.Id == 0 && r.Code == 0) || r.unknownFields != nil {
		return dst, false
	}
	var (
		resNum  protowire.Number
		resSize int
		path    string
		data    []byte
		st      *Stat
	)
	switch res := r.Result.(type) {
	case nil:
	case *Response_Create:
		c := res.Create
		if c == nil || c.unknownFields != nil || !utf8.ValidString(c.Path) {
			return dst, false
		}
		resNum, path, st = 4, c.Path, c.Stat
	case *Response_Stat:
		s := res.Stat
		if s == nil || s.unknownFields != nil {
			return dst, false
		}
		resNum, st = 5, s.Stat
	case *Response_GetData:
		g := res.GetData
		if g == nil || g.unknownFields != nil {
			return dst, false
		}
		resNum, data, st = 6, g.Data, g.Stat
	default:
		return dst, false
	}
	statSize := 0
	if st != nil {
		if st.unknownFields != nil {
			return dst, false
		}
		statSize = sizeStat(st)
	}
	if resNum != 0 {
		resSize = sizeBytes(len(path)) + sizeBytes(len(data))
		if st != nil {
			resSize += 1 + protowire.SizeBytes(statSize)
		}
	}
	size := sizeVarint(r.Id) + sizeVarint(protowire.EncodeZigZag(int64(r.Code))) + sizeVarint(r.Zxid)
	if resNum != 0 {
		size += 1 + protowire.SizeBytes(resSize)
	}
	total := 1 + protowire.SizeBytes(size)
	if total > MaxFrameBytes {
		return dst, false
	}
	b := protowire.AppendTag(slices.Grow(dst, total), 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protoscan.AppendVarintField(b, 1, r.Id)
	b = protoscan.AppendVarintField(b, 2, protowire.EncodeZigZag(int64(r.Code)))
	b = protoscan.AppendVarintField(b, 3, r.Zxid)
	if resNum == 0 {
		return b, true
	}
	b = protowire.AppendTag(b, resNum, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resSize))
	b = protoscan.AppendStringField(b, 1, path) // a create's
	b = protoscan.AppendBytesField(b, 1, data)  // a get_data's
	if st != nil {
		statNum := protowire.Number(2)
		if resNum == 5 {
			statNum = 1
		}
		b = protowire.AppendTag(b, statNum, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(statSize))
		b = appendStat(b, st)
	}
	return b, true
}

// statFields is a Stat's fields in field-number order, as varints (an
// int32 sign-extended, as proto3 encodes it).
func statFields(st *Stat) [11]uint64 {
	return [11]uint64{
		uint64(st.Czxid), uint64(st.Mzxid), uint64(st.Ctime), uint64(st.Mtime),
		uint64(int64(st.Version)), uint64(int64(st.Cversion)), uint64(int64(st.Aversion)),
		uint64(st.EphemeralOwner), uint64(int64(st.DataLength)), uint64(int64(st.NumChildren)),
		uint64(st.Pzxid),
	}
}

func sizeStat(st *Stat) int {
	n := 0
	for _, v := range statFields(st) {
		n += sizeVarint(v)
	}
	return n
}

func appendStat(b []byte, st *Stat) []byte {
	for i, v := range statFields(st) {
		b = protoscan.AppendVarintField(b, protowire.Number(i+1), v)
	}
	return b
}

// encodeRequestFast encodes the requests a client sends most — create,
// delete, set_data, get_data, exists, get_children and ping — byte for
// byte as proto.Marshal would (FuzzEncodeRequestFast checks), for a
// request that EncodeRequest's validation would pass; it declines anything
// else (including what validation would refuse, so that the general path
// words the error).
func encodeRequestFast(r *Request) ([]byte, bool) {
	if r == nil || r.Id == 0 || r.unknownFields != nil {
		return nil, false
	}
	if r.IsWrite() {
		if r.Seq == 0 || r.LowestUnackedSeq == 0 || r.LowestUnackedSeq > r.Seq {
			return nil, false
		}
	} else if r.Seq != 0 || r.LowestUnackedSeq != 0 {
		return nil, false
	}
	var (
		num  protowire.Number
		size int
		ok   bool
	)
	switch op := r.Op.(type) {
	case *Request_Create:
		num = 4
		size, ok = sizeCreate(op.Create)
	case *Request_Delete:
		if d := op.Delete; d != nil && d.unknownFields == nil && utf8.ValidString(d.Path) {
			num, size, ok = 5, sizeBytes(len(d.Path))+sizeVarint(protowire.EncodeZigZag(int64(d.Version))), true
		}
	case *Request_SetData:
		if s := op.SetData; s != nil && s.unknownFields == nil && utf8.ValidString(s.Path) {
			num, size, ok = 6, sizeBytes(len(s.Path))+sizeBytes(len(s.Data))+sizeVarint(protowire.EncodeZigZag(int64(s.Version))), true
		}
	case *Request_GetData:
		if g := op.GetData; g != nil && g.unknownFields == nil {
			num, size, ok = 7, sizePathWatch(g.Path, g.Watch), utf8.ValidString(g.Path)
		}
	case *Request_Exists:
		if e := op.Exists; e != nil && e.unknownFields == nil {
			num, size, ok = 8, sizePathWatch(e.Path, e.Watch), utf8.ValidString(e.Path)
		}
	case *Request_GetChildren:
		if g := op.GetChildren; g != nil && g.unknownFields == nil {
			num, size, ok = 9, sizePathWatch(g.Path, g.Watch), utf8.ValidString(g.Path)
		}
	case *Request_Ping:
		num, ok = 10, op.Ping != nil && op.Ping.unknownFields == nil
	}
	if !ok {
		return nil, false
	}
	total := sizeVarint(r.Id) + sizeVarint(r.Seq) + sizeVarint(r.LowestUnackedSeq) + 1 + protowire.SizeBytes(size)
	if total > MaxFrameBytes {
		return nil, false
	}
	b := make([]byte, 0, total)
	b = protoscan.AppendVarintField(b, 1, r.Id)
	b = protoscan.AppendVarintField(b, 2, r.Seq)
	b = protoscan.AppendVarintField(b, 3, r.LowestUnackedSeq)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	switch op := r.Op.(type) {
	case *Request_Create:
		c := op.Create
		b = protoscan.AppendStringField(b, 1, c.Path)
		b = protoscan.AppendBytesField(b, 2, c.Data)
		for _, a := range c.Acl {
			b = protowire.AppendTag(b, 3, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(sizeACL(a)))
			b = protoscan.AppendVarintField(b, 1, uint64(int64(a.Perms)))
			b = protoscan.AppendStringField(b, 2, a.Scheme)
			b = protoscan.AppendStringField(b, 3, a.Id)
		}
		b = protoscan.AppendVarintField(b, 4, uint64(int64(c.Mode)))
		b = protoscan.AppendVarintField(b, 5, uint64(c.TtlMs))
		b = protoscan.AppendVarintField(b, 6, protoscan.BoolVarint(c.Parents))
	case *Request_Delete:
		b = protoscan.AppendStringField(b, 1, op.Delete.Path)
		b = protoscan.AppendVarintField(b, 2, protowire.EncodeZigZag(int64(op.Delete.Version)))
	case *Request_SetData:
		b = protoscan.AppendStringField(b, 1, op.SetData.Path)
		b = protoscan.AppendBytesField(b, 2, op.SetData.Data)
		b = protoscan.AppendVarintField(b, 3, protowire.EncodeZigZag(int64(op.SetData.Version)))
	case *Request_GetData:
		b = appendPathWatch(b, op.GetData.Path, op.GetData.Watch)
	case *Request_Exists:
		b = appendPathWatch(b, op.Exists.Path, op.Exists.Watch)
	case *Request_GetChildren:
		b = appendPathWatch(b, op.GetChildren.Path, op.GetChildren.Watch)
	}
	return b, true
}

func sizeCreate(c *Create) (int, bool) {
	if c == nil || c.unknownFields != nil || !utf8.ValidString(c.Path) {
		return 0, false
	}
	if _, known := CreateMode_name[int32(c.Mode)]; !known {
		return 0, false
	}
	n := sizeBytes(len(c.Path)) + sizeBytes(len(c.Data)) +
		sizeVarint(uint64(int64(c.Mode))) + sizeVarint(uint64(c.TtlMs)) + sizeVarint(protoscan.BoolVarint(c.Parents))
	for _, a := range c.Acl {
		if a == nil || a.unknownFields != nil || !utf8.ValidString(a.Scheme) || !utf8.ValidString(a.Id) {
			return 0, false
		}
		n += 1 + protowire.SizeBytes(sizeACL(a))
	}
	return n, true
}

func sizeACL(a *ACL) int {
	return sizeVarint(uint64(int64(a.Perms))) + sizeBytes(len(a.Scheme)) + sizeBytes(len(a.Id))
}

func sizePathWatch(path string, watch bool) int {
	return sizeBytes(len(path)) + sizeVarint(protoscan.BoolVarint(watch))
}

func appendPathWatch(b []byte, path string, watch bool) []byte {
	return protoscan.AppendVarintField(protoscan.AppendStringField(b, 1, path), 2, protoscan.BoolVarint(watch))
}

// sizeVarint and sizeBytes are the sizes of a varint field with value v
// and of a bytes or string field of n bytes, numbered below 16 (as all
// the fields the fast encoders write are), 0 for the default value.
func sizeVarint(v uint64) int { return protoscan.SizeVarintField(1, v) }
func sizeBytes(n int) int     { return protoscan.SizeBytesField(1, n) }
