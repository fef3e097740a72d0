package wire

import (
	"math"
	"strings"
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

// pbMsg, pbVarint and pbBytes build encoded messages by hand for the edge
// cases: the fields concatenated, a varint field, a bytes field.
func pbMsg(fields ...[]byte) []byte {
	var m []byte
	for _, f := range fields {
		m = append(m, f...)
	}
	return m
}

func pbVarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func pbBytes(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

// fastEdgeFrames are frames near the fast path's edges: each but "empty
// data" and "negative version" (valid, and taken) is refused by one of its
// rules, or by the general path.
func fastEdgeFrames() map[string][]byte {
	resp := func(fields ...[]byte) []byte { return pbBytes(1, pbMsg(fields...)) }
	varint, bytes, stat := pbVarint, pbBytes, pbMsg
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

// FuzzDecodeRequestFast checks the member's fast path against the general
// one, as FuzzDecodeServerMessageFast does the client's.
func FuzzDecodeRequestFast(f *testing.F) {
	for _, r := range sampleRequests() {
		b := mustEncode(EncodeRequest(r))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, b := range fastEdgeRequests() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeRequestFast(b)
		if !ok {
			return
		}
		general, err := decodeRequestGeneral(b)
		if err != nil {
			t.Fatalf("the fast path accepted %x as %v; the general path refuses it: %v", b, fast, err)
		}
		if !proto.Equal(fast, general) {
			t.Fatalf("%x: fast path %v, general path %v", b, fast, general)
		}
	})
}

// fastEdgeRequests are requests near the fast path's edges, each refused
// by one of its rules or by the general path, except those named "ok ...".
func fastEdgeRequests() map[string][]byte {
	msg, varint, bytes := pbMsg, pbVarint, pbBytes
	acl := bytes(3, msg(varint(1, 31), bytes(2, []byte("world")), bytes(3, []byte("anyone"))))
	manyACL := func(n int) []byte {
		var m []byte
		for range n {
			m = append(m, acl...)
		}
		return m
	}
	return map[string][]byte{
		"ok get_data watch":      msg(varint(1, 4), bytes(7, msg(bytes(1, []byte("/a")), varint(2, 1)))),
		"ok set_data any":        msg(varint(1, 4), varint(2, 3), varint(3, 1), bytes(6, msg(bytes(1, []byte("/a")), varint(3, 1)))),
		"ok create 64 acl":       msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, msg(bytes(1, []byte("/a")), manyACL(64)))),
		"ok explicit zero seq":   msg(varint(1, 4), varint(2, 0), bytes(10, nil)),
		"create 65 acl":          msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, msg(bytes(1, []byte("/a")), manyACL(65)))),
		"id 0":                   msg(bytes(10, nil)),
		"no op":                  msg(varint(1, 4)),
		"write without seq":      msg(varint(1, 4), bytes(5, bytes(1, []byte("/a")))),
		"lowest past seq":        msg(varint(1, 4), varint(2, 2), varint(3, 3), bytes(5, bytes(1, []byte("/a")))),
		"read with seq":          msg(varint(1, 4), varint(2, 2), bytes(8, bytes(1, []byte("/a")))),
		"watch 2":                msg(varint(1, 4), bytes(8, msg(bytes(1, []byte("/a")), varint(2, 2)))),
		"unknown mode":           msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, msg(bytes(1, []byte("/a")), varint(4, 7)))),
		"negative mode":          msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, msg(bytes(1, []byte("/a")), varint(4, math.MaxUint64)))),
		"version past sint32":    msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(5, msg(bytes(1, []byte("/a")), varint(2, math.MaxUint32+1)))),
		"ping with a field":      msg(varint(1, 4), bytes(10, varint(1, 1))),
		"two ops":                msg(varint(1, 4), bytes(10, nil), bytes(8, bytes(1, []byte("/a")))),
		"bad UTF-8 scheme":       msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, bytes(3, bytes(2, []byte{0xc0})))),
		"acl perms over int32":   msg(varint(1, 4), varint(2, 1), varint(3, 1), bytes(4, bytes(3, varint(1, math.MaxUint32)))),
		"sync (not on the path)": msg(varint(1, 4), bytes(14, nil)),
	}
}

// TestDecodeRequestFastCoverage: the fast path takes the requests it is
// for, and declines the rest to the general path.
func TestDecodeRequestFastCoverage(t *testing.T) {
	taken := map[string]bool{
		"create": true, "create-ttl": true, "create-eph": true, "delete": true, "set-data": true,
		"get-data": true, "exists": true, "children": true, "ping": true,
	}
	samples := sampleRequests()
	for _, name := range sampleNames(samples) {
		b := mustEncode(EncodeRequest(samples[name]))
		r, ok := decodeRequestFast(b)
		if ok != taken[name] {
			t.Errorf("%s: fast path took it: %v, want %v", name, ok, taken[name])
			continue
		}
		if ok && !proto.Equal(r, samples[name]) {
			t.Errorf("%s: fast path decoded %v, want %v", name, r, samples[name])
		}
	}
	edges := fastEdgeRequests()
	for _, name := range sampleNames(edges) {
		b := edges[name]
		fast, ok := decodeRequestFast(b)
		general, err := decodeRequestGeneral(b)
		want := strings.HasPrefix(name, "ok ")
		switch {
		case ok && err != nil:
			t.Errorf("%s: the fast path accepted what the general path refuses (%v)", name, err)
		case ok && !proto.Equal(fast, general):
			t.Errorf("%s: fast %v, general %v", name, fast, general)
		case ok != want:
			t.Errorf("%s: taken %v, want %v", name, ok, want)
		}
	}
}

// FuzzAppendServerMessageFast checks that the fast encoder writes what
// the general one writes, byte for byte, for every message it takes; the
// fuzzer picks the response's fields and its result's kind.
func FuzzAppendServerMessageFast(f *testing.F) {
	f.Add(uint64(7), int32(0), uint64(9), uint8(6), "/a", []byte("data"), int64(5), int32(-1), true)
	f.Add(uint64(0), int32(-101), uint64(0), uint8(0), "", []byte(nil), int64(0), int32(0), false)
	f.Add(uint64(1), int32(0), uint64(1<<40), uint8(4), "/x/y-0000000001", []byte(nil), int64(-1), int32(math.MaxInt32), true)
	f.Add(uint64(1), int32(0), uint64(1), uint8(5), "\xff", []byte{}, int64(math.MinInt64), int32(math.MinInt32), true)
	f.Fuzz(func(t *testing.T, id uint64, code int32, zxid uint64, kind uint8, path string, data []byte, i64 int64, i32 int32, withStat bool) {
		var st *Stat
		if withStat {
			st = &Stat{Czxid: i64, Mzxid: i64 / 2, Ctime: int64(i32), Mtime: 0, Version: i32, Cversion: -i32,
				Aversion: 1, EphemeralOwner: i64 ^ 0x55, DataLength: int32(len(data)), NumChildren: i32 / 3, Pzxid: int64(zxid)}
		}
		r := &Response{Id: id, Code: code, Zxid: zxid}
		switch kind % 8 {
		case 4:
			r.Result = &Response_Create{Create: &CreateResult{Path: path, Stat: st}}
		case 5:
			r.Result = &Response_Stat{Stat: &StatResult{Stat: st}}
		case 6:
			r.Result = &Response_GetData{GetData: &GetDataResult{Data: data, Stat: st}}
		case 7:
			r.Result = &Response_GetChildren{GetChildren: &GetChildrenResult{Children: []string{path}, Stat: st}}
		}
		m := &ServerMessage{Kind: &ServerMessage_Response{Response: r}}
		prefix := []byte("kept")
		fast, ok := appendServerMessageFast(prefix, m)
		general, err := appendServerMessageGeneral(prefix, m)
		if !ok {
			if string(fast) != "kept" {
				t.Fatalf("declined, but dst changed to %x", fast)
			}
			return
		}
		if err != nil {
			t.Fatalf("the fast path encoded %v; the general path refuses it: %v", m, err)
		}
		if string(fast) != string(general) {
			t.Fatalf("%v:\nfast    %x\ngeneral %x", m, fast, general)
		}
	})
}

// TestAppendServerMessageFastCoverage: the fast encoder takes the
// responses it is for, writing what Marshal writes, and declines the rest.
func TestAppendServerMessageFastCoverage(t *testing.T) {
	taken := map[string]bool{
		"create": true, "create-nonode": true, "delete": true, "set-data": true,
		"get-data": true, "get-data-empty": true, "auth-failed": true, "unattributable": true,
	}
	samples := sampleServerMessages()
	for _, name := range sampleNames(samples) {
		fast, ok := appendServerMessageFast(nil, samples[name])
		if ok != taken[name] {
			t.Errorf("%s: fast path took it: %v, want %v", name, ok, taken[name])
			continue
		}
		if general := mustEncode(appendServerMessageGeneral(nil, samples[name])); ok && string(fast) != string(general) {
			t.Errorf("%s: fast %x, general %x", name, fast, general)
		}
	}
	bad := &ServerMessage{Kind: &ServerMessage_Response{Response: &Response{Id: 1,
		Result: &Response_Create{Create: &CreateResult{Path: "\xff"}}}}}
	if _, ok := appendServerMessageFast(nil, bad); ok {
		t.Error("took a path that is not UTF-8")
	}
	if _, err := AppendServerMessage(nil, bad); err == nil {
		t.Error("AppendServerMessage encoded a path that is not UTF-8")
	}
}

// FuzzEncodeRequestFast checks that the fast encoder writes what the
// general one writes, byte for byte, for every request it takes, and
// takes none that the general one refuses.
func FuzzEncodeRequestFast(f *testing.F) {
	f.Add(uint8(4), uint64(2), uint64(1), uint64(1), "/a", []byte("x"), int32(-1), false, int32(2), int64(0), uint8(1), int32(31), "world", "anyone")
	f.Add(uint8(7), uint64(9), uint64(0), uint64(0), "/a/b", []byte(nil), int32(0), true, int32(0), int64(0), uint8(0), int32(0), "", "")
	f.Add(uint8(6), uint64(3), uint64(5), uint64(2), "/c", []byte{}, int32(7), false, int32(0), int64(0), uint8(0), int32(0), "", "")
	f.Add(uint8(4), uint64(1), uint64(1), uint64(1), "/t", []byte("v"), int32(0), true, int32(5), int64(1000), uint8(2), int32(-1), "digest", "u:\xff")
	f.Add(uint8(10), uint64(1), uint64(0), uint64(0), "", []byte(nil), int32(0), false, int32(9), int64(-1), uint8(0), int32(0), "", "")
	f.Fuzz(func(t *testing.T, kind uint8, id, seq, lowest uint64, path string, data []byte, version int32, flag bool,
		mode int32, ttl int64, nACL uint8, perms int32, scheme, aclID string) {
		r := &Request{Id: id, Seq: seq, LowestUnackedSeq: lowest}
		switch kind % 12 {
		case 4:
			c := &Create{Path: path, Data: data, Mode: CreateMode(mode), TtlMs: ttl, Parents: flag}
			for i := range int(nACL % 5) {
				if i == 3 && perms == 77 {
					c.Acl = append(c.Acl, nil)
					continue
				}
				c.Acl = append(c.Acl, &ACL{Perms: perms + int32(i), Scheme: scheme, Id: aclID})
			}
			r.Op = &Request_Create{Create: c}
		case 5:
			r.Op = &Request_Delete{Delete: &Delete{Path: path, Version: version}}
		case 6:
			r.Op = &Request_SetData{SetData: &SetData{Path: path, Data: data, Version: version}}
		case 7:
			r.Op = &Request_GetData{GetData: &GetData{Path: path, Watch: flag}}
		case 8:
			r.Op = &Request_Exists{Exists: &Exists{Path: path, Watch: flag}}
		case 9:
			r.Op = &Request_GetChildren{GetChildren: &GetChildren{Path: path, Watch: flag}}
		case 10:
			r.Op = &Request_Ping{Ping: &Ping{}}
		case 11:
			r.Op = &Request_Sync{Sync: &Sync{Path: path}}
		}
		fast, ok := encodeRequestFast(r)
		general, err := encodeRequestGeneral(r)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("the fast path encoded %v; the general path refuses it: %v", r, err)
		}
		if string(fast) != string(general) {
			t.Fatalf("%v:\nfast    %x\ngeneral %x", r, fast, general)
		}
	})
}

// TestEncodeRequestFastCoverage: the fast encoder takes the requests it
// is for, writing what Marshal writes, and declines the rest.
func TestEncodeRequestFastCoverage(t *testing.T) {
	taken := map[string]bool{
		"create": true, "create-ttl": true, "create-eph": true, "delete": true, "set-data": true,
		"get-data": true, "exists": true, "children": true, "ping": true,
	}
	samples := sampleRequests()
	for _, name := range sampleNames(samples) {
		fast, ok := encodeRequestFast(samples[name])
		if ok != taken[name] {
			t.Errorf("%s: fast path took it: %v, want %v", name, ok, taken[name])
			continue
		}
		if general := mustEncode(encodeRequestGeneral(samples[name])); ok && string(fast) != string(general) {
			t.Errorf("%s: fast %x, general %x", name, fast, general)
		}
	}
	for name, r := range map[string]*Request{
		"id 0":              {Op: &Request_Ping{Ping: &Ping{}}},
		"write without seq": {Id: 1, Op: &Request_Delete{Delete: &Delete{Path: "/a"}}},
		"read with seq":     {Id: 1, Seq: 1, LowestUnackedSeq: 1, Op: &Request_Exists{Exists: &Exists{Path: "/a"}}},
		"unknown mode":      {Id: 1, Seq: 1, LowestUnackedSeq: 1, Op: &Request_Create{Create: &Create{Path: "/a", Mode: 99}}},
		"nil acl entry":     {Id: 1, Seq: 1, LowestUnackedSeq: 1, Op: &Request_Create{Create: &Create{Path: "/a", Acl: []*ACL{nil}}}},
		"path not UTF-8":    {Id: 1, Op: &Request_GetData{GetData: &GetData{Path: "\xff"}}},
		"nil op":            {Id: 1, Op: &Request_GetData{}},
	} {
		if _, ok := encodeRequestFast(r); ok {
			t.Errorf("%s: taken", name)
		}
		if _, err := EncodeRequest(r); err == nil {
			t.Errorf("%s: EncodeRequest accepted it", name)
		}
	}
}
