package wire

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeServerMessageFast checks the fast path against the general
// one: whatever it accepts, the general path accepts too and decodes to an
// equal message.
func FuzzDecodeServerMessageFast(f *testing.F) {
	for _, m := range sampleServerMessages() {
		b := mustEncode(EncodeServerMessage(m))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, b := range fastEdgeFrames() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeServerMessageFast(b)
		if !ok {
			return
		}
		general, err := decodeServerMessageGeneral(b)
		if err != nil {
			t.Fatalf("the fast path accepted %x as %v; the general path refuses it: %v", b, fast, err)
		}
		if !proto.Equal(fast, general) {
			t.Fatalf("%x: fast path %v, general path %v", b, fast, general)
		}
		if gd, fd := general.GetResponse().GetGetData(), fast.GetResponse().GetGetData(); gd != nil && (gd.Data == nil) != (fd.Data == nil) {
			t.Fatalf("%x: data nil %v on the fast path, %v on the general path", b, fd.Data == nil, gd.Data == nil)
		}
	})
}

// fastEdgeFrames are frames near the fast path's edges: each but "empty
// data" and "negative version" (valid, and taken) is refused by one of its
// rules, or by the general path.
func fastEdgeFrames() map[string][]byte {
	resp := func(fields ...[]byte) []byte {
		var r []byte
		for _, f := range fields {
			r = append(r, f...)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), r)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	bytes := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	stat := func(fields ...[]byte) []byte {
		var s []byte
		for _, f := range fields {
			s = append(s, f...)
		}
		return s
	}
	return map[string][]byte{
		"id twice":           resp(varint(1, 4), varint(1, 5)),
		"id 0, code Ok":      resp(varint(3, 9)),
		"code out of sint32": resp(varint(1, 4), varint(2, math.MaxUint32+1)),
		"non-minimal id":     append(protowire.AppendTag(nil, 1, protowire.BytesType), 3, 0x08, 0x84, 0x00),
		"two results":        resp(varint(1, 4), bytes(5, nil), bytes(6, nil)),
		"bad UTF-8 path":     resp(varint(1, 4), bytes(4, bytes(1, []byte{0xff}))),
		"version over int32": resp(varint(1, 4), bytes(5, bytes(1, stat(varint(5, math.MaxInt32+1))))),
		"negative version":   resp(varint(1, 4), bytes(5, bytes(1, stat(varint(5, uint64(math.MaxUint64)))))),
		"stat twice":         resp(varint(1, 4), bytes(6, stat(bytes(2, nil), bytes(2, nil)))),
		"unknown stat field": resp(varint(1, 4), bytes(5, bytes(1, stat(varint(12, 1))))),
		"empty data":         resp(varint(1, 4), bytes(6, bytes(1, nil))),
		"trailing field":     append(resp(varint(1, 4)), varint(2, 1)...),
	}
}

// TestDecodeServerMessageFastCoverage: the fast path takes the frames it
// is for, and declines the rest to the general path.
func TestDecodeServerMessageFastCoverage(t *testing.T) {
	taken := map[string]bool{
		"create": true, "create-nonode": true, "delete": true, "set-data": true,
		"get-data": true, "get-data-empty": true, "auth-failed": true, "unattributable": true,
	}
	samples := sampleServerMessages()
	for _, name := range sampleNames(samples) {
		b := mustEncode(EncodeServerMessage(samples[name]))
		m, ok := decodeServerMessageFast(b)
		if ok != taken[name] {
			t.Errorf("%s: fast path took it: %v, want %v", name, ok, taken[name])
			continue
		}
		if ok && !proto.Equal(m, samples[name]) {
			t.Errorf("%s: fast path decoded %v, want %v", name, m, samples[name])
		}
	}
	edges := fastEdgeFrames()
	accepted := map[string]bool{"empty data": true, "negative version": true}
	for _, name := range sampleNames(edges) {
		b := edges[name]
		fast, ok := decodeServerMessageFast(b)
		general, err := decodeServerMessageGeneral(b)
		switch {
		case ok && err != nil:
			t.Errorf("%s: the fast path accepted what the general path refuses (%v)", name, err)
		case ok && !proto.Equal(fast, general):
			t.Errorf("%s: fast %v, general %v", name, fast, general)
		case accepted[name] && !ok:
			t.Errorf("%s: declined", name)
		case !accepted[name] && ok:
			t.Errorf("%s: taken, want declined", name)
		}
	}
}

func BenchmarkDecodeServerMessagePaths(b *testing.B) {
	for _, name := range []string{"create", "get-data"} {
		frame := mustEncode(EncodeServerMessage(sampleServerMessages()[name]))
		b.Run(name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := decodeServerMessageFast(frame); !ok {
					b.Fatal("declined")
				}
			}
		})
		b.Run(name+"/general", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeServerMessageGeneral(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
