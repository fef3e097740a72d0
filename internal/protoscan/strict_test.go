package protoscan

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestVarintAndBytesRefuseNonMinimal(t *testing.T) {
	b := []byte{0x96, 0x01, 0xff}
	if v, ok := Varint(&b); !ok || v != 150 || len(b) != 1 {
		t.Fatalf("Varint: %d %v, %d bytes left", v, ok, len(b))
	}
	for _, in := range [][]byte{{0x80, 0x00}, {0x81, 0x80, 0x00}, {0x80}, nil} {
		b := in
		if _, ok := Varint(&b); ok {
			t.Errorf("Varint(%x) accepted", in)
		}
	}
	b = []byte{0x02, 'h', 'i', 0x07}
	if v, ok := Bytes(&b); !ok || string(v) != "hi" || len(b) != 1 {
		t.Fatalf("Bytes: %q %v", v, ok)
	}
	for _, in := range [][]byte{{0x82, 0x00, 'h', 'i'}, {0x03, 'h', 'i'}} {
		b := in
		if _, ok := Bytes(&b); ok {
			t.Errorf("Bytes(%x) accepted", in)
		}
	}
}

func TestFields(t *testing.T) {
	msg := func(fields ...[]byte) []byte {
		var m []byte
		for _, f := range fields {
			m = append(m, f...)
		}
		return m
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	bytes := func(num protowire.Number, v string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	var got []string
	collect := func(num protowire.Number, v uint64) bool { got = append(got, string(rune('0'+num))); return true }
	collectB := func(num protowire.Number, v []byte) bool { got = append(got, string(v)); return true }
	if !Fields(msg(varint(1, 5), bytes(2, "a"), bytes(2, "b"), varint(3, 1)), 3, 2, collect, collectB) {
		t.Fatal("refused a valid message")
	}
	if want := []string{"1", "a", "b", "3"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("walked %q, want %q", got, want)
	}
	for name, m := range map[string][]byte{
		"singular twice":  msg(varint(1, 5), varint(1, 6)),
		"past max":        msg(varint(4, 1)),
		"field 0":         {0x00, 0x01},
		"fixed64":         protowire.AppendFixed64(protowire.AppendTag(nil, 1, protowire.Fixed64Type), 1),
		"varint refused":  msg(bytes(2, "a"), varint(3, 1)),
		"truncated":       msg(bytes(2, "abc"))[:3],
		"non-minimal tag": {0x88, 0x00, 0x01},
	} {
		refuse := func(num protowire.Number, v uint64) bool { return num != 3 }
		if Fields(m, 3, 2, refuse, collectB) {
			t.Errorf("%s: accepted", name)
		}
	}
	if Fields(nil, 64, 0, nil, nil) {
		t.Error("max 64 accepted")
	}
}

func TestInt32AndSint32(t *testing.T) {
	neg := uint64(math.MaxUint64) // -1, sign-extended
	if v, ok := Int32(neg); !ok || v != -1 {
		t.Errorf("Int32(-1): %d %v", v, ok)
	}
	if _, ok := Int32(math.MaxInt32 + 1); ok {
		t.Error("Int32 accepted 2^31")
	}
	if _, ok := Int32(uint64(math.MaxUint32)); ok {
		t.Error("Int32 accepted 2^32-1 (not sign-extended)")
	}
	if v, ok := Sint32(protowire.EncodeZigZag(-7)); !ok || v != -7 {
		t.Errorf("Sint32(-7): %d %v", v, ok)
	}
	if _, ok := Sint32(math.MaxUint32 + 1); ok {
		t.Error("Sint32 accepted a value past 32 bits")
	}
}

func TestDataAndBool(t *testing.T) {
	in := []byte("abc")
	d := Data(in)
	in[0] = 'x'
	if string(d) != "abc" {
		t.Errorf("Data aliases its input: %q", d)
	}
	if Data([]byte{}) != nil || Data(nil) != nil {
		t.Error("Data of nothing is not nil")
	}
	for v, want := range map[uint64][2]bool{0: {false, true}, 1: {true, true}, 2: {false, false}, 1 << 40: {false, false}} {
		if b, ok := Bool(v); b != want[0] || ok != want[1] {
			t.Errorf("Bool(%d) = %v, %v", v, b, ok)
		}
	}
}

func TestBoolVarint(t *testing.T) {
	if BoolVarint(true) != 1 || BoolVarint(false) != 0 {
		t.Error("BoolVarint")
	}
}
