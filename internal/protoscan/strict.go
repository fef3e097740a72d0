package protoscan

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The functions below serve hand-written decoders of a message's common
// shapes, which skip Scan and proto.Unmarshal on a hot path. They are
// strict where Scan and Unmarshal are lenient, so that what a fast path
// accepts is a subset of what the general path accepts: each reports false
// on anything unusual (a non-minimal varint, a field given twice, a wire
// type or a value out of place), and its caller then falls back to the
// general path, which decides and words the error.

// Varint consumes a varint from *b, which must be minimally encoded.
func Varint(b *[]byte) (uint64, bool) {
	v, n := protowire.ConsumeVarint(*b)
	if n < 0 || n != protowire.SizeVarint(v) {
		return 0, false
	}
	*b = (*b)[n:]
	return v, true
}

// Bytes consumes a length-delimited value from *b, whose length must be
// minimally encoded. The value aliases *b.
func Bytes(b *[]byte) ([]byte, bool) {
	v, n := protowire.ConsumeBytes(*b)
	if n < 0 || n != protowire.SizeBytes(len(v)) {
		return nil, false
	}
	*b = (*b)[n:]
	return v, true
}

// Fields walks the fields of a message whose field numbers are 1 to max
// (at most 63), each tagged minimally and given at most once except
// repeated (0: none), calling
// varint or bytes for each by its wire type. A nil callback refuses that
// wire type, as does a callback that returns false; any other wire type is
// refused.
func Fields(m []byte, max, repeated protowire.Number, varint func(protowire.Number, uint64) bool, bytes func(protowire.Number, []byte) bool) bool {
	if max > 63 {
		return false
	}
	var seen uint64
	for len(m) > 0 {
		num, typ, n := protowire.ConsumeTag(m)
		if n < 0 || num < 1 || num > max || n != protowire.SizeTag(num) {
			return false
		}
		m = m[n:]
		if num != repeated {
			if seen&(1<<num) != 0 {
				return false
			}
			seen |= 1 << num
		}
		switch typ {
		case protowire.VarintType:
			v, ok := Varint(&m)
			if !ok || varint == nil || !varint(num, v) {
				return false
			}
		case protowire.BytesType:
			v, ok := Bytes(&m)
			if !ok || bytes == nil || !bytes(num, v) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Data copies a bytes field's value, so that it does not alias the
// input; empty is nil, as proto.Unmarshal has it.
func Data(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// Bool converts a bool field's varint, refusing anything but 0 and 1
// (Unmarshal takes any other value as true).
func Bool(v uint64) (bool, bool) { return v == 1, v <= 1 }

// String converts a proto3 string field's value, which must be valid
// UTF-8.
func String(v []byte) (string, bool) {
	return string(v), utf8.Valid(v)
}

// Int32 converts an int32 field's varint: a negative value is encoded
// sign-extended to 64 bits, and anything outside int32 is refused.
func Int32(v uint64) (int32, bool) {
	x := int64(v)
	return int32(x), x >= math.MinInt32 && x <= math.MaxInt32
}

// Sint32 converts a sint32 field's zigzag varint, refusing one outside
// 32 bits.
func Sint32(v uint64) (int32, bool) {
	return int32(protowire.DecodeZigZag(v)), v <= math.MaxUint32
}

// The functions below serve hand-written encoders that must write what
// proto.Marshal writes: a proto3 field with its default value (0, false,
// empty) is left out, and fields go in field-number order, except that
// Marshal writes a oneof's field after all the others.

// SizeVarintField is the encoded size of varint field num with value v: 0
// when v is 0.
func SizeVarintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

// AppendVarintField appends varint field num with value v, unless v is 0.
func AppendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

// BoolVarint is a bool field's value as the varint Marshal writes.
func BoolVarint(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// SizeBytesField is the encoded size of bytes or string field num holding
// n bytes: 0 when n is 0.
func SizeBytesField(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// AppendBytesField appends bytes field num holding v, unless v is empty.
func AppendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// AppendStringField appends string field num holding s, unless s is empty.
func AppendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// SizeMessageField is the encoded size of message field num whose
// encoding is n bytes; a message that is set takes its tag even when empty.
func SizeMessageField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// AppendMessageHeader appends the tag and length of message field num
// whose encoding, n bytes, the caller appends next.
func AppendMessageHeader(b []byte, num protowire.Number, n int) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.BytesType), uint64(n))
}
