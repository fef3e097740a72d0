package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/arbor-coord/arbor/internal/protoscan"
)

func TestRequestRoundTrip(t *testing.T) {
	reqs := sampleRequests()
	for _, name := range sampleNames(reqs) {
		r := reqs[name]
		t.Run(name, func(t *testing.T) {
			b, err := EncodeRequest(r)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			got, err := DecodeRequest(b)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !proto.Equal(got, r) {
				t.Fatalf("binary round trip:\n got %v\nwant %v", got, r)
			}
			j, err := EncodeRequestJSON(r)
			if err != nil {
				t.Fatalf("EncodeRequestJSON: %v", err)
			}
			got, err = DecodeRequestJSON(j)
			if err != nil {
				t.Fatalf("DecodeRequestJSON(%s): %v", j, err)
			}
			if !proto.Equal(got, r) {
				t.Fatalf("json round trip:\n got %v\nwant %v\njson %s", got, r, j)
			}
		})
	}
}

func TestServerMessageRoundTrip(t *testing.T) {
	msgs := sampleServerMessages()
	for _, name := range sampleNames(msgs) {
		m := msgs[name]
		t.Run(name, func(t *testing.T) {
			b, err := EncodeServerMessage(m)
			if err != nil {
				t.Fatalf("EncodeServerMessage: %v", err)
			}
			got, err := DecodeServerMessage(b)
			if err != nil {
				t.Fatalf("DecodeServerMessage: %v", err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("binary round trip:\n got %v\nwant %v", got, m)
			}
			j, err := EncodeServerMessageJSON(m)
			if err != nil {
				t.Fatalf("EncodeServerMessageJSON: %v", err)
			}
			got, err = DecodeServerMessageJSON(j)
			if err != nil {
				t.Fatalf("DecodeServerMessageJSON(%s): %v", j, err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("json round trip:\n got %v\nwant %v\njson %s", got, m, j)
			}
		})
	}
}

// TestSamplesCoverSchema checks that the samples set every field of every
// message reachable from Request and ServerMessage at least once (and so
// every op and every result), so that the round trips and the fuzz seeds
// exercise the whole schema.
func TestSamplesCoverSchema(t *testing.T) {
	set := map[protoreflect.FullName]bool{}
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			set[fd.FullName()] = true
			switch {
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message())
				}
			case fd.Kind() == protoreflect.MessageKind:
				walk(v.Message())
			}
			return true
		})
	}
	for _, r := range sampleRequests() {
		walk(r.ProtoReflect())
	}
	for _, m := range sampleServerMessages() {
		walk(m.ProtoReflect())
	}
	seenMsg := map[protoreflect.FullName]bool{}
	var check func(md protoreflect.MessageDescriptor)
	check = func(md protoreflect.MessageDescriptor) {
		if seenMsg[md.FullName()] {
			return
		}
		seenMsg[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if !set[fd.FullName()] {
				t.Errorf("no sample sets %s", fd.FullName())
			}
			if fd.Kind() == protoreflect.MessageKind {
				check(fd.Message())
			}
		}
	}
	check(requestDesc())
	check(serverMessageDesc())
}

func TestJSONUsesProtoNames(t *testing.T) {
	j, err := EncodeRequestJSON(sampleRequests()["create-ttl"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"lowest_unacked_seq"`, `"ttl_ms"`, `"CREATE_MODE_PERSISTENT_SEQUENTIAL_TTL"`, `"seq":"9"`} {
		if !bytes.Contains(bytes.ReplaceAll(j, []byte(" "), nil), []byte(want)) {
			t.Errorf("json %s lacks %s", j, want)
		}
	}
	// A hand-written frame, as a browser would send it: lowerCamelCase
	// names, numbers for 64-bit ints and enums are accepted too.
	r, err := DecodeRequestJSON([]byte(`{"id": 7, "seq": 1, "lowestUnackedSeq": 1, "create": {"path": "/x", "data": "aGk=", "acl": [{"perms": 31, "scheme": "world", "id": "anyone"}], "mode": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := r.GetCreate(); c.GetMode() != CreateMode_CREATE_MODE_EPHEMERAL || string(c.GetData()) != "hi" || r.GetId() != 7 {
		t.Fatalf("decoded %v", r)
	}
}

// req encodes a request without validation, to build frames the encoder
// would refuse.
func raw(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeRequestRejects(t *testing.T) {
	good := mustEncode(EncodeRequest(sampleRequests()["create"]))
	get := &Request_GetData{GetData: &GetData{Path: "/a"}}
	tooMany := &Multi{}
	for range MaxFrameElements / 2 {
		tooMany.Ops = append(tooMany.Ops, &MultiOp{Op: &MultiOp_Check{Check: &Check{}}})
	}
	cases := []struct {
		name     string
		b        []byte
		tooLarge bool
	}{
		{"empty", nil, false},
		{"no id", raw(&Request{Op: get}), false},
		{"no op", raw(&Request{Id: 1}), false},
		{"truncated", good[:len(good)-1], false},
		{"trailing garbage", append(bytes.Clone(good), 0xff), false},
		{"unknown field", protowire.AppendVarint(protowire.AppendTag(bytes.Clone(good), 99, protowire.VarintType), 1), false},
		{"wrong wire type", protowire.AppendFixed32(protowire.AppendTag(raw(&Request{Op: get}), 1, protowire.Fixed32Type), 1), false},
		{"id twice", protowire.AppendVarint(protowire.AppendTag(raw(&Request{Id: 1, Op: get}), 1, protowire.VarintType), 2), false},
		{"two ops", append(raw(&Request{Id: 1, Op: get}), raw(&Request{Op: &Request_Ping{Ping: &Ping{}}})...), false},
		{"group", protowire.AppendTag(raw(&Request{Id: 1, Op: get}), 30, protowire.StartGroupType), false},
		{"write without seq", raw(&Request{Id: 1, Op: &Request_Delete{Delete: &Delete{Path: "/a"}}}), false},
		{"write without lowest", raw(&Request{Id: 1, Seq: 3, Op: &Request_Delete{Delete: &Delete{Path: "/a"}}}), false},
		{"lowest above seq", raw(&Request{Id: 1, Seq: 3, LowestUnackedSeq: 4, Op: &Request_Delete{Delete: &Delete{Path: "/a"}}}), false},
		{"read with seq", raw(&Request{Id: 1, Seq: 3, LowestUnackedSeq: 3, Op: get}), false},
		{"bad create mode", raw(write(1, 1, &Request_Create{Create: &Create{Path: "/a", Mode: 7}})), false},
		{"bad create mode in multi", raw(write(1, 1, &Request_Multi{Multi: &Multi{Ops: []*MultiOp{{Op: &MultiOp_Create{Create: &Create{Mode: 99}}}}}})), false},
		{"empty multi op", raw(write(1, 1, &Request_Multi{Multi: &Multi{Ops: []*MultiOp{{}}}})), false},
		{"connect version 0", raw(&Request{Id: 1, Op: &Request_Connect{Connect: &Connect{}}}), false},
		{"connect watch kind 0", raw(&Request{Id: 1, Op: &Request_Connect{Connect: &Connect{ProtocolVersion: 1, Watches: []*WatchRegistration{{Path: "/"}}}}}), false},
		{"connect watch kind 9", raw(&Request{Id: 1, Op: &Request_Connect{Connect: &Connect{ProtocolVersion: 1, Watches: []*WatchRegistration{{Path: "/", Kind: 9}}}}}), false},
		{"add_watch one-shot kind", raw(&Request{Id: 1, Op: &Request_AddWatch{AddWatch: &AddWatch{Path: "/", Kind: WatchKind_WATCH_KIND_DATA}}}), false},
		{"remove_watches kind 0", raw(&Request{Id: 1, Op: &Request_RemoveWatches{RemoveWatches: &RemoveWatches{Kinds: []WatchKind{0}}}}), false},
		{"read kind 0", raw(&Request{Id: 1, Op: &Request_ReadMulti{ReadMulti: &ReadMulti{Ops: []*ReadOp{{Path: "/"}}}}}), false},
		// 2^32+1 would be truncated to 1 (EPHEMERAL) by plain unmarshalling.
		{"mode out of int32 range", protowire.AppendVarint(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, 0, 0)[:0], nil)[:0], 4, protowire.VarintType), 1<<32+1), false},
		{"bool out of range", protowire.AppendVarint(protowire.AppendTag(raw(&Request{Id: 1, Op: &Request_GetData{GetData: &GetData{}}})[:0], 1, protowire.VarintType), 1), false},
		{"invalid utf-8", raw(&Request{Id: 1, Op: &Request_GetData{GetData: &GetData{}}})[:0], false},
		{"too many bytes", make([]byte, MaxFrameBytes+1), true},
		{"too many elements", raw(write(1, 1, &Request_Multi{Multi: tooMany})), true},
	}
	// Hand-built frames for the cases above that need a nested message.
	create := func(fields []byte) []byte {
		b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), 1)
		b = protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), 1)
		return protowire.AppendBytes(protowire.AppendTag(b, 4, protowire.BytesType), fields)
	}
	getData := func(fields []byte) []byte {
		b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
		return protowire.AppendBytes(protowire.AppendTag(b, 7, protowire.BytesType), fields)
	}
	for i := range cases {
		switch cases[i].name {
		case "mode out of int32 range":
			cases[i].b = create(protowire.AppendVarint(protowire.AppendTag(nil, 4, protowire.VarintType), 1<<32+1))
		case "bool out of range":
			cases[i].b = getData(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 2))
		case "invalid utf-8":
			cases[i].b = getData(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{'/', 0xff}))
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeRequest(c.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeRequest = %v, %v; want an error wrapping ErrMalformed", r, err)
			}
			if errors.Is(err, ErrTooLarge) != c.tooLarge {
				t.Fatalf("errors.Is(%v, ErrTooLarge) = %v, want %v", err, !c.tooLarge, c.tooLarge)
			}
		})
	}
}

func TestDecodeServerMessageRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":              nil,
		"nil response":       raw(&ServerMessage{Kind: &ServerMessage_Response{}}),
		"event type 0":       raw(&ServerMessage{Kind: &ServerMessage_Event{Event: &Event{Path: "/", Kinds: []WatchKind{1}}}}),
		"event type 5":       raw(&ServerMessage{Kind: &ServerMessage_Event{Event: &Event{Type: 5, Path: "/", Kinds: []WatchKind{1}}}}),
		"event without kind": raw(&ServerMessage{Kind: &ServerMessage_Event{Event: &Event{Type: 1, Path: "/"}}}),
		"event kind 6":       raw(&ServerMessage{Kind: &ServerMessage_Event{Event: &Event{Type: 1, Path: "/", Kinds: []WatchKind{6}}}}),
		"notice kind 0":      raw(&ServerMessage{Kind: &ServerMessage_Notice{Notice: &Notice{Code: -112}}}),
		"unknown field":      protowire.AppendVarint(protowire.AppendTag(raw(sampleServerMessages()["delete"]), 4, protowire.VarintType), 1),
		"unknown nested":     protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)),
		"too large":          make([]byte, MaxFrameBytes+1),
	}
	for _, name := range sampleNames(cases) {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeServerMessage(cases[name])
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeServerMessage = %v, %v; want an error wrapping ErrMalformed", m, err)
			}
		})
	}
	// A response with no result is fine (delete), with any code: codes are
	// passed through, so a newer code reaches the client.
	if _, err := DecodeServerMessage(raw(resp(1, -9999, nil))); err != nil {
		t.Fatalf("unknown code: %v", err)
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	reqs := map[string]string{
		"empty":          ``,
		"not json":       `create /a`,
		"no op":          `{"id": 1}`,
		"no id":          `{"ping": {}}`,
		"unknown field":  `{"id": 1, "ping": {}, "extra": 1}`,
		"two ops":        `{"id": 1, "ping": {}, "sync": {}}`,
		"bad enum name":  `{"id": 1, "add_watch": {"path": "/", "kind": "WATCH_KIND_FOREVER"}}`,
		"bad enum num":   `{"id": 1, "add_watch": {"path": "/", "kind": 17}}`,
		"write no seq":   `{"id": 1, "delete": {"path": "/a"}}`,
		"bad base64":     `{"id": 1, "add_auth": {"scheme": "digest", "auth": "!!"}}`,
		"array":          `[]`,
		"too large":      `{"id": 1, "sync": {"path": "` + strings.Repeat("a", MaxFrameBytes) + `"}}`,
		"too many elems": `{"id": 1, "seq": 1, "lowest_unacked_seq": 1, "multi": {"ops": [` + strings.Repeat(`{},`, MaxFrameElements) + `{}]}}`,
	}
	for _, name := range sampleNames(reqs) {
		t.Run("request/"+name, func(t *testing.T) {
			r, err := DecodeRequestJSON([]byte(reqs[name]))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeRequestJSON = %v, %v; want an error wrapping ErrMalformed", r, err)
			}
		})
	}
	msgs := map[string]string{
		"no kind":    `{}`,
		"bad notice": `{"notice": {"kind": "NOTICE_KIND_UNSPECIFIED"}}`,
		"unknown":    `{"response": {"id": "1", "rezult": {}}}`,
	}
	for _, name := range sampleNames(msgs) {
		t.Run("server/"+name, func(t *testing.T) {
			m, err := DecodeServerMessageJSON([]byte(msgs[name]))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeServerMessageJSON = %v, %v; want an error wrapping ErrMalformed", m, err)
			}
		})
	}
}

// TestEncodeRefuses checks that the encoders refuse what the decoders
// would, rather than write a frame the other end drops.
func TestEncodeRefuses(t *testing.T) {
	big := &Request{Id: 1, Op: &Request_Sync{Sync: &Sync{Path: strings.Repeat("a", MaxFrameBytes)}}}
	for name, r := range map[string]*Request{
		"nil":             nil,
		"no op":           {Id: 1},
		"nil op message":  {Id: 1, Op: &Request_Create{}},
		"nil acl entry":   write(1, 1, &Request_Create{Create: &Create{Acl: []*ACL{nil}}}),
		"nil multi op":    write(1, 1, &Request_Multi{Multi: &Multi{Ops: []*MultiOp{nil}}}),
		"read with seq":   {Id: 1, Seq: 1, LowestUnackedSeq: 1, Op: &Request_Ping{Ping: &Ping{}}},
		"invalid utf-8":   {Id: 1, Op: &Request_Sync{Sync: &Sync{Path: "\xff"}}},
		"too large":       big,
		"nil watch entry": {Id: 1, Op: &Request_Connect{Connect: &Connect{ProtocolVersion: 1, Watches: []*WatchRegistration{nil}}}},
	} {
		if _, err := EncodeRequest(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: EncodeRequest = %v, want ErrMalformed", name, err)
		}
		if _, err := EncodeRequestJSON(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: EncodeRequestJSON = %v, want ErrMalformed", name, err)
		}
	}
	// Frames of at most MaxFrameElements bytes skip the scan after
	// encoding (they cannot break a limit); a larger one is still scanned.
	manyChildren := make([]string, MaxFrameElements+1)
	for i := range manyChildren {
		manyChildren[i] = "c"
	}
	for name, m := range map[string]*ServerMessage{
		"too many elements": resp(1, 0, &Response_GetChildren{GetChildren: &GetChildrenResult{Children: manyChildren, Stat: stat(1)}}),
		"nil":               nil,
		"no kind":           {},
		"nil result":        resp(1, 0, &Response_GetData{}),
		"nil multi entry":   resp(1, 0, &Response_Multi{Multi: &MultiResult{Results: []*OpResult{nil}}}),
		"event kinds":       {Kind: &ServerMessage_Event{Event: &Event{Type: 1}}},
	} {
		if _, err := EncodeServerMessage(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: EncodeServerMessage = %v, want ErrMalformed", name, err)
		}
		if _, err := EncodeServerMessageJSON(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: EncodeServerMessageJSON = %v, want ErrMalformed", name, err)
		}
	}
}

// TestSmallFramesNeedNoRescan backs scanEncoded's shortcut: every sample,
// encoded, passes the full scan the decoders run.
func TestSmallFramesNeedNoRescan(t *testing.T) {
	for name, r := range sampleRequests() {
		b := mustEncode(EncodeRequest(r))
		if err := scanFrame(b, requestSchema()); err != nil || len(b) > MaxFrameElements {
			t.Errorf("%s: %d bytes, scan: %v", name, len(b), err)
		}
	}
	for name, m := range sampleServerMessages() {
		b := mustEncode(EncodeServerMessage(m))
		if err := scanFrame(b, serverMessageSchema()); err != nil || len(b) > MaxFrameElements {
			t.Errorf("%s: %d bytes, scan: %v", name, len(b), err)
		}
	}
}

func TestIsWrite(t *testing.T) {
	writes := map[string]bool{
		"create": true, "create-ttl": true, "create-eph": true, "delete": true, "set-data": true,
		"multi": true, "multi-empty": true, "check": true, "set-acl": true,
	}
	for name, r := range sampleRequests() {
		if got := r.IsWrite(); got != writes[name] {
			t.Errorf("%s: IsWrite() = %v", name, got)
		}
	}
	if (*Request)(nil).IsWrite() {
		t.Error("nil request is a write")
	}
}

// TestScannerCapacity checks that the scanner can check every message of
// the schema (fields and oneofs within its capacity, no groups, no maps).
func TestScannerCapacity(t *testing.T) {
	mds := File_wire_proto.Messages()
	for i := 0; i < mds.Len(); i++ {
		if err := protoscan.CheckSchema(mds.Get(i)); err != nil {
			t.Error(err)
		}
	}
}

func TestPeekRequestID(t *testing.T) {
	good, err := EncodeRequest(&Request{Id: 77, Op: &Request_Ping{Ping: &Ping{}}})
	if err != nil {
		t.Fatal(err)
	}
	// An unknown field after the id makes the frame malformed, but the id
	// is still readable.
	bad := append(append([]byte(nil), good...), 0xf8, 0xff, 0xff, 0x01, 0x00)
	for _, tc := range []struct {
		name string
		b    []byte
		json bool
		want uint64
	}{
		{"valid binary", good, false, 77},
		{"malformed binary with an id", bad, false, 77},
		{"garbage", []byte{0xff, 0xff, 0xff}, false, 0},
		{"empty", nil, false, 0},
		{"json string id", []byte(`{"id":"12","nope":1}`), true, 12},
		{"json number id", []byte(`{"id":13,"ping":{}`), true, 0}, // not JSON at all
		{"json number id, valid", []byte(`{"id":13,"bogus":{}}`), true, 13},
		{"json without id", []byte(`{"ping":{}}`), true, 0},
	} {
		if got := PeekRequestID(tc.b, tc.json); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
