package wire

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/arbor-coord/arbor/internal/protoscan"
)

// decodeServerMessageFast decodes the frames a client reads most — a
// Response with no result, or with a create, stat or get_data result —
// straight from the wire format, without DecodeServerMessage's scan and
// generic unmarshal (a fifth of a client's own CPU per read).
//
// It is deliberately narrow: it accepts only frames DecodeServerMessage
// accepts, and returns what DecodeServerMessage returns for them
// (FuzzDecodeServerMessageFast checks both). On anything else — another
// message or result, a field given twice, a non-minimal varint, a value
// out of range, malformed input — it reports false, and the general path
// decides and words the error.
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
			return protoscan.Fields(v, 2, 0, nil, func(num protowire.Number, v []byte) bool {
				if num == 1 {
					var ok bool
					res.Path, ok = protoscan.String(v)
					return ok
				}
				res.Stat, ok = fastStat(v)
				return ok
			})
		case 5:
			res := &StatResult{}
			r.Result = &Response_Stat{Stat: res}
			return protoscan.Fields(v, 1, 0, nil, func(_ protowire.Number, v []byte) bool {
				res.Stat, ok = fastStat(v)
				return ok
			})
		case 6:
			res := &GetDataResult{}
			r.Result = &Response_GetData{GetData: res}
			return protoscan.Fields(v, 2, 0, nil, func(num protowire.Number, v []byte) bool {
				if num == 1 {
					if len(v) > 0 { // as Unmarshal: empty is nil
						res.Data = append([]byte(nil), v...)
					}
					return true
				}
				res.Stat, ok = fastStat(v)
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
