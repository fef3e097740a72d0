package wire

import (
	"encoding/json"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// PeekRequestID returns the id of a request frame that failed to decode,
// if it can be read leniently (0 otherwise), so that the member can
// answer the malformed request by its id (docs/PROTOCOL.md, Requests and
// responses). isJSON selects the encoding. It never fails and looks no
// further than the first id field.
func PeekRequestID(b []byte, isJSON bool) uint64 {
	if len(b) > MaxFrameBytes {
		return 0
	}
	if isJSON {
		var env struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(b, &env) != nil || len(env.ID) == 0 {
			return 0
		}
		s := string(env.ID)
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		}
		id, _ := strconv.ParseUint(s, 10, 64)
		return id
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0
			}
			return v
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0
		}
		b = b[n:]
	}
	return 0
}
