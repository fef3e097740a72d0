package tree

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/protoscan"
	"github.com/arbor-coord/arbor/tree/internal/treepb"
)

// digestID is a realistic digest identity: user:base64(sha1(user:password)).
var digestID = Identity{SchemeDigest, "alice:Y3VzdG9tZXJzZWNyZXRkaWdlc3Q="}

// typicalCreate is the command a client's create of a 100-byte node becomes.
func typicalCreate() *Command {
	return &Command{
		ID:      RequestID{Member: 3, Seq: 1_000_123},
		Session: 0x0300_0001_2345_6789,
		TimeMs:  1_760_000_000_000,
		Op: &Create{
			Path: "/services/web/member-0000000042",
			Data: bytes.Repeat([]byte("x"), 100),
			ACL:  OpenACL(),
			Mode: EphemeralSequential,
		},
	}
}

// allACL has one entry of each scheme and some odd permission values, which
// the codec must carry unchanged for Apply to judge.
func allACL() []ACL {
	return []ACL{
		{PermAll, SchemeWorld, "anyone"},
		{PermRead | PermAdmin, SchemeDigest, "bob:c2VjcmV0c2VjcmV0c2VjcmV0c2U="},
		{PermCreate, SchemeAuth, ""},
		{0, "", ""},
		{-1, "ip", "10.0.0.0/8"},
		{math.MinInt32, "x", "y"},
		{math.MaxInt32, "x", "y"},
	}
}

// codecCases are commands that must round-trip; want, if set, is what
// decoding their encoding yields (the nil/empty rule). The golden file
// pins the format 1 encodings of most of them by name, so never change an
// existing case's command (or typicalCreate, allACL, digestID): add a case.
func codecCases() []struct {
	name string
	cmd  *Command
	want *Command
} {
	maxIdentities := make([]Identity, MaxIdentities)
	for i := range maxIdentities {
		maxIdentities[i] = Identity{"digest", strings.Repeat("u", i)}
	}
	maxACL := make([]ACL, MaxACLEntries)
	for i := range maxACL {
		maxACL[i] = ACL{Perm(i % 32), SchemeWorld, "anyone"}
	}
	maxMulti := make([]Op, MaxMultiOps)
	for i := range maxMulti {
		maxMulti[i] = &Check{Path: "/c", Version: int32(i) - 1}
	}
	// Exactly MaxCommandACLEntries entries, spread over a multi.
	wideMulti := make([]Op, MaxCommandACLEntries/MaxACLEntries)
	for i := range wideMulti {
		wideMulti[i] = &Create{Path: "/w", ACL: maxACL}
	}
	type tc = struct {
		name string
		cmd  *Command
		want *Command
	}
	cases := []tc{
		{name: "typical create", cmd: typicalCreate()},
		{name: "create every field", cmd: &Command{
			ID: RequestID{1, 2}, Session: 7, TimeMs: 1234, Identities: []Identity{digestID}, System: true,
			Op: &Create{Path: "/a/b", Data: []byte{0, 1, 2, 255}, ACL: allACL(), Mode: PersistentSequentialTTL, TTLMs: MaxTTLMs, Parents: true},
		}},
		{name: "exactly-once write", cmd: &Command{
			Session: 7, Seq: 1 << 40, LowestUnacked: math.MaxUint64,
			Op: &SetData{Path: "/a", Data: []byte("x"), Version: 3},
		}},
		{name: "create zero", cmd: &Command{Op: &Create{}}},
		{name: "create negative ttl", cmd: &Command{Op: &Create{Path: "/t", Mode: PersistentTTL, TTLMs: -5}}},
		{name: "create extreme ttl", cmd: &Command{Op: &Create{Path: "/t", Mode: PersistentTTL, TTLMs: math.MinInt64}}},
		{name: "create unicode path", cmd: &Command{Op: &Create{Path: "/über/日本/🙂", ACL: ReadACL()}}},
		{name: "create 1 MiB data", cmd: &Command{Op: &Create{Path: "/big", Data: bytes.Repeat([]byte{0xab}, 1<<20)}}},
		{name: "create max ACL", cmd: &Command{Op: &Create{Path: "/acl", ACL: maxACL}}},
		{
			name: "create empty data and ACL become nil",
			cmd:  &Command{Identities: []Identity{}, Op: &Create{Path: "/e", Data: []byte{}, ACL: []ACL{}}},
			want: &Command{Op: &Create{Path: "/e"}},
		},
		{name: "delete", cmd: &Command{ID: RequestID{2, 9}, Session: 5, TimeMs: 99, Op: &Delete{Path: "/a", Version: 3}}},
		{name: "delete any version", cmd: &Command{Op: &Delete{Path: "/a", Version: -1}}},
		{name: "delete zero", cmd: &Command{Op: &Delete{}}},
		{name: "delete min version", cmd: &Command{Op: &Delete{Path: "/a", Version: math.MinInt32}}},
		{name: "set data", cmd: &Command{Session: 1, Op: &SetData{Path: "/a", Data: []byte("hello"), Version: math.MaxInt32}}},
		{name: "set data zero", cmd: &Command{Op: &SetData{}}},
		{
			name: "set data empty becomes nil",
			cmd:  &Command{Op: &SetData{Path: "/a", Data: []byte{}, Version: -1}},
			want: &Command{Op: &SetData{Path: "/a", Version: -1}},
		},
		{name: "check", cmd: &Command{Op: &Check{Path: "/a", Version: -1}}},
		{name: "check zero", cmd: &Command{Op: &Check{}}},
		{name: "set acl", cmd: &Command{Identities: []Identity{digestID, {"super", "admin"}}, Op: &SetACL{Path: "/a", ACL: allACL(), Version: 4}}},
		{name: "set acl zero", cmd: &Command{Op: &SetACL{}}},
		{
			name: "set acl empty becomes nil",
			cmd:  &Command{Op: &SetACL{Path: "/a", ACL: []ACL{}}},
			want: &Command{Op: &SetACL{Path: "/a"}},
		},
		{name: "multi every sub-op", cmd: &Command{
			ID: RequestID{math.MaxUint64, math.MaxUint64}, Session: 42, TimeMs: 1_760_000_000_001,
			Identities: []Identity{digestID}, System: true,
			Op: &Multi{Ops: []Op{
				&Create{Path: "/m", Data: []byte("d"), ACL: OpenACL(), Mode: Container},
				&Create{Path: "/m/e-", ACL: allACL(), Mode: EphemeralSequential, Parents: true},
				&Create{},
				&Delete{Path: "/m/x", Version: -1},
				&Delete{},
				&SetData{Path: "/m", Data: []byte("new"), Version: 0},
				&SetData{},
				&Check{Path: "/m", Version: 1},
				&Check{},
			}},
		}},
		{name: "multi empty", cmd: &Command{Op: &Multi{}}},
		{
			name: "multi empty ops becomes nil",
			cmd:  &Command{Op: &Multi{Ops: []Op{}}},
			want: &Command{Op: &Multi{}},
		},
		{name: "multi max ops", cmd: &Command{Op: &Multi{Ops: maxMulti}}},
		{name: "multi max ACL entries", cmd: &Command{Op: &Multi{Ops: wideMulti}}},
		{name: "create session", cmd: &Command{ID: RequestID{1, 1}, TimeMs: 5, Op: &CreateSession{ID: 0x0100_0000_0000_0001, TimeoutMs: 30000, PasswordDigest: bytes.Repeat([]byte{7}, 32)}}},
		{name: "create session zero", cmd: &Command{Op: &CreateSession{}}},
		{name: "create session extremes", cmd: &Command{Op: &CreateSession{ID: math.MinInt64, TimeoutMs: math.MinInt32}}},
		{
			name: "create session empty digest becomes nil",
			cmd:  &Command{Op: &CreateSession{ID: 1, TimeoutMs: 1, PasswordDigest: []byte{}}},
			want: &Command{Op: &CreateSession{ID: 1, TimeoutMs: 1}},
		},
		{name: "close session", cmd: &Command{Session: 9, Op: &CloseSession{ID: 9}}},
		{name: "close session expired", cmd: &Command{System: true, Op: &CloseSession{ID: math.MaxInt64, Expired: true}}},
		{name: "close session zero", cmd: &Command{Op: &CloseSession{}}},
		{name: "reap", cmd: &Command{System: true, TimeMs: 77, Op: &Reap{Path: "/arbor/x"}}},
		{name: "reap zero", cmd: &Command{Op: &Reap{}}},
		{name: "extreme header", cmd: &Command{
			ID: RequestID{math.MaxUint64, math.MaxUint64}, Session: math.MinInt64, TimeMs: math.MinInt64,
			Identities: maxIdentities, System: true, Op: &Reap{Path: "/r"},
		}},
		{name: "max header", cmd: &Command{Session: math.MaxInt64, TimeMs: math.MaxInt64, Op: &Check{Path: "/"}}},
		{name: "empty identities", cmd: &Command{Identities: []Identity{{}, {"", "x"}, {"x", ""}}, Op: &Check{Path: "/"}}},
	}
	for m := Persistent; m <= PersistentSequentialTTL; m++ {
		cases = append(cases, tc{name: "create mode " + string(rune('0'+m)), cmd: &Command{Op: &Create{Path: "/m", Mode: m}}})
	}
	return cases
}

func TestCommandRoundTrip(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeCommand(tc.cmd)
			if err != nil {
				t.Fatalf("EncodeCommand: %v", err)
			}
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			want := tc.want
			if want == nil {
				want = tc.cmd
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got  %s\n want %s", describeCommand(got), describeCommand(want))
			}
		})
	}
}

// describeCommand prints a command for a failure message, its ops
// dereferenced, keeping huge ones short.
func describeCommand(c *Command) string {
	if c == nil {
		return "<nil>"
	}
	ops := []Op{c.Op}
	if m, ok := c.Op.(*Multi); ok && m != nil {
		ops = m.Ops
	}
	s := fmt.Sprintf("%+v", *c)
	for _, op := range ops {
		s += fmt.Sprintf(" op=%+v", op)
	}
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}

// bogusOp is an Op type the codec does not know.
type bogusOp struct{}

func (*bogusOp) isOp() {}

func TestEncodeCommandRejects(t *testing.T) {
	tooManyIdentities := make([]Identity, MaxIdentities+1)
	bigACL := make([]ACL, MaxACLEntries+1)
	for i := range bigACL {
		bigACL[i] = ACL{PermRead, SchemeWorld, "anyone"}
	}
	tooManyOps := make([]Op, MaxMultiOps+1)
	for i := range tooManyOps {
		tooManyOps[i] = &Check{Path: "/c"}
	}
	// One entry over MaxCommandACLEntries, each create within MaxACLEntries.
	wide := make([]Op, MaxCommandACLEntries/MaxACLEntries+1)
	for i := range wide {
		wide[i] = &Create{Path: "/w", ACL: bigACL[:MaxACLEntries]}
	}
	wide[len(wide)-1] = &Create{Path: "/w", ACL: bigACL[:1]}
	for _, tc := range []struct {
		name string
		cmd  *Command
	}{
		{"nil command", nil},
		{"nil op", &Command{}},
		{"unknown op type", &Command{Op: &bogusOp{}}},
		{"nil *Create", &Command{Op: (*Create)(nil)}},
		{"nil *Delete", &Command{Op: (*Delete)(nil)}},
		{"nil *SetData", &Command{Op: (*SetData)(nil)}},
		{"nil *Check", &Command{Op: (*Check)(nil)}},
		{"nil *SetACL", &Command{Op: (*SetACL)(nil)}},
		{"nil *Multi", &Command{Op: (*Multi)(nil)}},
		{"nil *CreateSession", &Command{Op: (*CreateSession)(nil)}},
		{"nil *CloseSession", &Command{Op: (*CloseSession)(nil)}},
		{"nil *Reap", &Command{Op: (*Reap)(nil)}},
		{"invalid mode", &Command{Op: &Create{Path: "/a", Mode: PersistentSequentialTTL + 1}}},
		{"mode 255", &Command{Op: &Create{Path: "/a", Mode: 255}}},
		{"too many identities", &Command{Identities: tooManyIdentities, Op: &Check{Path: "/"}}},
		{"create ACL too long", &Command{Op: &Create{Path: "/a", ACL: bigACL}}},
		{"set acl too long", &Command{Op: &SetACL{Path: "/a", ACL: bigACL}}},
		{"too many multi ops", &Command{Op: &Multi{Ops: tooManyOps}}},
		{"too many ACL entries in multi", &Command{Op: &Multi{Ops: wide}}},
		{"multi nil sub-op", &Command{Op: &Multi{Ops: []Op{&Check{Path: "/"}, nil}}}},
		{"multi typed nil sub-op", &Command{Op: &Multi{Ops: []Op{(*Delete)(nil)}}}},
		{"multi nested multi", &Command{Op: &Multi{Ops: []Op{&Multi{}}}}},
		{"multi set acl", &Command{Op: &Multi{Ops: []Op{&SetACL{Path: "/a", ACL: OpenACL()}}}}},
		{"multi create session", &Command{Op: &Multi{Ops: []Op{&CreateSession{ID: 1}}}}},
		{"multi close session", &Command{Op: &Multi{Ops: []Op{&CloseSession{ID: 1}}}}},
		{"multi reap", &Command{Op: &Multi{Ops: []Op{&Reap{Path: "/a"}}}}},
		{"multi bogus", &Command{Op: &Multi{Ops: []Op{&bogusOp{}}}}},
		{"multi invalid mode", &Command{Op: &Multi{Ops: []Op{&Create{Path: "/a", Mode: 200}}}}},
		{"invalid UTF-8 path", &Command{Op: &Delete{Path: "/\xff"}}},
		{"invalid UTF-8 identity", &Command{Identities: []Identity{{"digest", "\xc3"}}, Op: &Check{Path: "/"}}},
		{"invalid UTF-8 ACL id", &Command{Op: &SetACL{Path: "/", ACL: []ACL{{PermAll, "world", "\xfe"}}}}},
		{"over MaxCommandBytes", &Command{Op: &SetData{Path: "/a", Data: make([]byte, MaxCommandBytes)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeCommand(tc.cmd)
			if err == nil {
				t.Fatalf("EncodeCommand succeeded (%d bytes), want an error", len(b))
			}
			// An ACL over MaxACLEntries is the client's InvalidACL, as
			// the tree's own check says; nothing else is.
			if want := strings.HasSuffix(tc.name, "ACL too long") || strings.HasSuffix(tc.name, "acl too long"); errors.Is(err, errcode.InvalidACL) != want {
				t.Errorf("errors.Is(%v, InvalidACL) = %t, want %t", err, !want, want)
			}
			t.Log(err)
		})
	}
}

// Helpers to build encodings by hand.

func tagged(num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(nil, num, typ)
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(tagged(num, protowire.VarintType), v)
}

func bytesField(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(tagged(num, protowire.BytesType), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// format1 is the format field every valid encoding starts with.
func format1() []byte { return varintField(1, 1) }

// Field numbers from command.proto, for hand-built encodings.
const (
	fCreate       = 8
	fDelete       = 9
	fCheck        = 11
	fMulti        = 13
	fIdentities   = 6
	fCreateMode   = 4
	fCreateACL    = 3
	fMultiOps     = 1
	fMultiOpCheck = 4
)

func TestDecodeCommandRejects(t *testing.T) {
	valid := func(c *Command) []byte {
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := bytesField(fCheck, bytesField(1, []byte("/a")))
	repeatField := func(field []byte, n int) []byte { return bytes.Repeat(field, n) }
	emptyACL := bytesField(fCreateACL, nil)

	for _, tc := range []struct {
		name string
		b    []byte
		want string // a substring of the error
	}{
		{"nil", nil, "no format"},
		{"empty", []byte{}, "no format"},
		{"garbage", []byte("hello, world"), ""},
		{"all ones", bytes.Repeat([]byte{0xff}, 64), ""},
		{"no format", check, "no format"},
		{"format 0", cat(varintField(1, 0), check), "format 0"},
		{"format 2", cat(varintField(1, 2), check), "format 2"},
		{"format 2 with unknown fields", cat(varintField(1, 2), varintField(99, 1), check), "format 2"},
		{"format max", cat(varintField(1, math.MaxUint64), check), "format"},
		{"format as bytes", cat(bytesField(1, []byte{1}), check), ""},
		{"format twice", cat(format1(), format1(), check), "twice"},
		{"format truncated", []byte{0x08}, ""},
		{"missing op", cat(format1(), varintField(2, 7)), "no op"},
		{"two ops", cat(format1(), check, bytesField(fDelete, nil)), "both"},
		{"op twice", cat(format1(), check, check), "twice"},
		{"unknown top-level field", cat(format1(), varintField(99, 1), check), "unknown field 99"},
		{"unknown field in op", cat(format1(), bytesField(fCheck, varintField(3, 1))), "unknown field 3"},
		{"nested multi", cat(format1(), bytesField(fMulti, bytesField(fMultiOps, bytesField(fMulti, nil)))), "unknown field 13"},
		{"multi op without op", cat(format1(), bytesField(fMulti, bytesField(fMultiOps, nil))), "no op"},
		{"multi op with two ops", cat(format1(), bytesField(fMulti, bytesField(fMultiOps,
			cat(bytesField(fMultiOpCheck, nil), bytesField(2, nil))))), "both"},
		{"wrong wire type", cat(format1(), bytesField(fCheck, varintField(1, 5))), "wire type"},
		{"group wire type", cat(format1(), tagged(fCheck, protowire.StartGroupType), tagged(fCheck, protowire.EndGroupType)), ""},
		{"fixed64 wire type", cat(format1(), protowire.AppendFixed64(tagged(5, protowire.Fixed64Type), 1), check), "wire type"},
		{"mode 7", cat(format1(), bytesField(fCreate, varintField(fCreateMode, 7))), "invalid mode 7"},
		{"mode 256", cat(format1(), bytesField(fCreate, varintField(fCreateMode, 256))), "invalid mode 256"},
		{"mode -1", cat(format1(), bytesField(fCreate, varintField(fCreateMode, math.MaxUint64))), "invalid mode -1"},
		{"mode beyond int32", cat(format1(), bytesField(fCreate, varintField(fCreateMode, 1<<32+1))), "out of range"},
		{"bool 2", cat(format1(), varintField(7, 2), check), "out of range"},
		{"sint32 beyond 32 bits", cat(format1(), bytesField(fCheck, varintField(2, 1<<33))), "out of range"},
		{"int32 beyond 32 bits", cat(format1(), bytesField(fCreate, bytesField(fCreateACL, varintField(1, 1<<40)))), "out of range"},
		{"negative int32 in 5 bytes", cat(format1(), bytesField(fCreate, bytesField(fCreateACL, varintField(1, math.MaxUint32)))), "out of range"},
		{"overlong varint", cat(format1(), tagged(2, protowire.VarintType), bytes.Repeat([]byte{0x80}, 10), []byte{0}, check), ""},
		{"length beyond input", cat(format1(), tagged(fCheck, protowire.BytesType), protowire.AppendVarint(nil, 1<<40)), ""},
		{"negative length", cat(format1(), tagged(fCheck, protowire.BytesType), protowire.AppendVarint(nil, math.MaxUint64)), ""},
		{"invalid UTF-8 path", cat(format1(), bytesField(fDelete, bytesField(1, []byte("/\xff")))), "UTF-8"},
		{"field number 0", cat(format1(), varintField(0, 1)[1:], check), ""},
		{"too many identities", cat(format1(), repeatField(bytesField(fIdentities, nil), MaxIdentities+1), check), "MaxIdentities"},
		{"ACL too long", cat(format1(), bytesField(fCreate, repeatField(emptyACL, MaxACLEntries+1))), "MaxACLEntries"},
		{"set acl too long", cat(format1(), bytesField(12, repeatField(bytesField(2, nil), MaxACLEntries+1))), "MaxACLEntries"},
		{"too many multi ops", cat(format1(), bytesField(fMulti, repeatField(bytesField(fMultiOps, bytesField(fMultiOpCheck, nil)), MaxMultiOps+1))), "MaxMultiOps"},
		{"too many ACL entries in command", cat(format1(), bytesField(fMulti, repeatField(
			bytesField(fMultiOps, bytesField(1, repeatField(emptyACL, MaxACLEntries))),
			MaxCommandACLEntries/MaxACLEntries+1))), "MaxCommandACLEntries"},
		{"over MaxCommandBytes", cat(format1(), bytesField(fCheck, bytesField(1, make([]byte, MaxCommandBytes)))), "MaxCommandBytes"},
		{"trailing garbage", cat(valid(typicalCreate()), []byte{0xff}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand(tc.b)
			if !errors.Is(err, ErrCorruptCommand) {
				t.Fatalf("DecodeCommand = %+v, %v; want an error wrapping ErrCorruptCommand", c, err)
			}
			if c != nil {
				t.Errorf("DecodeCommand returned a command with its error: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// Every strict prefix of an encoding is corrupt: the op, written last, is
// then missing or truncated.
func TestDecodeCommandTruncated(t *testing.T) {
	for _, tc := range codecCases() {
		b, err := EncodeCommand(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4096 {
			continue
		}
		for n := range len(b) {
			if _, err := DecodeCommand(b[:n]); !errors.Is(err, ErrCorruptCommand) {
				t.Fatalf("%s: prefix of %d of %d bytes: err = %v, want ErrCorruptCommand", tc.name, n, len(b), err)
			}
		}
	}
}

// The decoded command owns its memory: the log may reuse the buffer.
func TestDecodeCommandDoesNotAlias(t *testing.T) {
	c := &Command{Identities: []Identity{digestID}, Op: &Multi{Ops: []Op{
		&Create{Path: "/a", Data: []byte("data"), ACL: OpenACL()},
		&SetData{Path: "/b", Data: []byte("more")},
	}}}
	b, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xee
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("decoded command changed with its input: %s", describeCommand(got))
	}
}

// The durable format must keep decoding what earlier builds wrote.
// testdata/command-format1.golden holds encodings written by format 1's
// first implementation, each named after the codecCases entry it must
// decode to, forever. Never edit those entries or the file: add new ones.
func TestDecodeCommandGolden(t *testing.T) {
	want := map[string]*Command{}
	for _, tc := range codecCases() {
		want[tc.name] = tc.want
		if tc.want == nil {
			want[tc.name] = tc.cmd
		}
	}
	data, err := os.ReadFile("testdata/command-format1.golden")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hexEnc, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("malformed golden line %q", line)
		}
		b, err := hex.DecodeString(hexEnc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, ok := want[name]
		if !ok {
			t.Fatalf("%s: no codec case of that name", name)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s: DecodeCommand: %v", name, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: DecodeCommand:\n got  %s\n want %s", name, describeCommand(got), describeCommand(w))
		}
		n++
	}
	if n == 0 {
		t.Fatal("no golden encodings")
	}
}

func TestEncodedCommandSize(t *testing.T) {
	b, err := EncodeCommand(typicalCreate())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical create of 100 bytes of data: %d bytes encoded", len(b))
	if len(b) >= 200 {
		t.Errorf("typical create encodes to %d bytes, want < 200", len(b))
	}
	withIdentity := typicalCreate()
	withIdentity.Identities = []Identity{digestID}
	if b, err = EncodeCommand(withIdentity); err != nil {
		t.Fatal(err)
	}
	t.Logf("the same with a digest identity: %d bytes encoded", len(b))
	if b, err = EncodeCommand(&Command{ID: RequestID{3, 1000}, Session: 0x0300_0001_2345_6789, TimeMs: 1_760_000_000_000, Op: &Delete{Path: "/services/web/member-0000000042", Version: -1}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a typical delete: %d bytes encoded", len(b))
}

// Decoding allocates in proportion to the limits, whatever the input
// claims: the worst inputs within the limits stay under a fixed budget.
func TestDecodeCommandAllocationBound(t *testing.T) {
	const budget = 4 * MaxCommandBytes
	emptyACL := bytesField(fCreateACL, nil)
	maxEntries := bytesField(fMulti, bytes.Repeat(
		bytesField(fMultiOps, bytesField(1, bytes.Repeat(emptyACL, MaxACLEntries))),
		MaxCommandACLEntries/MaxACLEntries))
	maxOps := bytesField(fMulti, bytes.Repeat(bytesField(fMultiOps, bytesField(1, nil)), MaxMultiOps))
	identities := bytes.Repeat(bytesField(fIdentities, nil), MaxIdentities)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"max ACL entries", cat(format1(), identities, maxEntries)},
		{"max ops", cat(format1(), identities, maxOps)},
		{"max data", cat(format1(), bytesField(fCreate, bytesField(2, make([]byte, MaxCommandBytes-16))))},
		{"max ACL strings", cat(format1(), bytesField(fCreate, bytes.Repeat(
			bytesField(fCreateACL, bytesField(3, make([]byte, MaxCommandBytes/MaxACLEntries-16))), MaxACLEntries)))},
		{"everything at once", cat(format1(), identities, bytesField(fMulti, cat(
			bytesField(fMultiOps, bytesField(1, bytesField(2, make([]byte, MaxCommandBytes-1<<20)))),
			bytes.Repeat(bytesField(fMultiOps, bytesField(1, bytes.Repeat(emptyACL, MaxCommandACLEntries/MaxMultiOps))), MaxMultiOps-1))))},
		{"over the ACL limit", cat(format1(), bytesField(fMulti, bytes.Repeat(
			bytesField(fMultiOps, bytesField(1, bytes.Repeat(emptyACL, MaxACLEntries))),
			MaxCommandBytes/(2*MaxACLEntries+8))))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.b) > MaxCommandBytes {
				t.Fatalf("test input of %d bytes is over MaxCommandBytes", len(tc.b))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := DecodeCommand(tc.b)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes in, %d bytes allocated, err=%v", len(tc.b), allocated, err)
			if allocated > budget {
				t.Errorf("decoding allocated %d bytes, over the budget of %d", allocated, budget)
			}
		})
	}
}

// The scanner relies on properties of the schema; a change to
// command.proto that breaks one must fail here, not in production.
func TestCommandSchema(t *testing.T) {
	msgs := treepb.File_command_proto.Messages()
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if err := protoscan.CheckSchema(md); err != nil {
			t.Error(err)
		}
		fields := md.Fields()
		for j := range fields.Len() {
			fd := fields.Get(j)
			if fd.IsList() {
				if fd.Kind() != protoreflect.MessageKind {
					t.Errorf("%s is a repeated scalar, whose packed elements listLimit cannot bound", fd.FullName())
				}
				if limit, _ := listLimit(fd); limit <= 0 {
					t.Errorf("%s is repeated but has no limit in listLimit", fd.FullName())
				}
			}
			if fd.HasPresence() && fd.Kind() != protoreflect.MessageKind && fd.ContainingOneof() == nil {
				t.Errorf("%s has explicit presence, which the Go types cannot represent", fd.FullName())
			}
		}
	}
	if got := (&treepb.Command{}).ProtoReflect().Descriptor().Fields().ByName("format").Number(); got != 1 {
		t.Errorf("Command.format is field %d; checkFormat expects 1", got)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range codecCases() {
		b, err := EncodeCommand(tc.cmd)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 4<<10 {
			continue // the limits are tested above; small inputs fuzz faster
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add(cat(varintField(1, 2), bytesField(fCheck, nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptCommand) {
				t.Fatalf("error does not wrap ErrCorruptCommand: %v", err)
			}
			if c != nil {
				t.Fatalf("command returned with error %v", err)
			}
			return
		}
		b2, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded command does not encode: %v\n%s", err, describeCommand(c))
		}
		if len(b2) > len(b) {
			t.Fatalf("re-encoding is longer than the input: %d > %d bytes", len(b2), len(b))
		}
		c2, err := DecodeCommand(b2)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the command:\n got  %s\n want %s", describeCommand(c2), describeCommand(c))
		}
		b3, err := EncodeCommand(c2)
		if err != nil || !bytes.Equal(b2, b3) {
			t.Fatalf("encoding is not stable: %x vs %x, %v", b2, b3, err)
		}
	})
}

func BenchmarkEncodeCommand(b *testing.B) {
	c := typicalCreate()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeCommand(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	enc, err := EncodeCommand(typicalCreate())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCommand(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// The fast path takes the commands client writes become, and declines the
// rest.
func TestDecodeFastCoverage(t *testing.T) {
	withSeq := typicalCreate()
	withSeq.Seq, withSeq.LowestUnacked, withSeq.Identities = 7, 5, []Identity{digestID, {SchemeSuper, ""}}
	taken := map[string]*Command{
		"create":      typicalCreate(),
		"create, seq": withSeq,
		"create, all": {Session: 1, Op: &Create{Path: "/a", Data: []byte{1}, ACL: allACL(), Mode: PersistentSequentialTTL, TTLMs: -5, Parents: true}},
		"set":         {Session: 9, Seq: 1, LowestUnacked: 1, Op: &SetData{Path: "/k", Data: bytes.Repeat([]byte{7}, 1024), Version: -1}},
		"set, empty":  {System: true, Op: &SetData{Path: "/k", Version: math.MinInt32}},
		"delete":      {Op: &Delete{Path: "/d", Version: math.MaxInt32}},
		"check":       {TimeMs: -1, Op: &Check{Path: "/c", Version: 3}},
	}
	for name, c := range taken {
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFast(b)
		want, err := decodeGeneral(b)
		if !ok || err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path %v (%s), general %s, %v", name, ok, describeCommand(got), describeCommand(want), err)
		}
	}
	declined := map[string]*Command{
		"multi":         {Op: &Multi{Ops: []Op{mk("/a")}}},
		"set acl":       {Op: &SetACL{Path: "/a", ACL: OpenACL()}},
		"session":       {Op: &CreateSession{ID: 1, TimeoutMs: 10}},
		"close session": {Op: &CloseSession{ID: 1}},
		"reap":          {System: true, Op: &Reap{Path: "/a"}},
	}
	for name, c := range declined {
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeFast(b); ok {
			t.Errorf("%s: taken by the fast path", name)
		}
		if _, err := DecodeCommand(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecodeFast checks that the fast path accepts only what the general
// path accepts, and decodes it the same.
func FuzzDecodeFast(f *testing.F) {
	for _, tc := range codecCases() {
		b, err := EncodeCommand(tc.cmd)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4<<10 {
			f.Add(b)
		}
	}
	b, err := EncodeCommand(&Command{Session: 9, Seq: 3, LowestUnacked: 2, Identities: []Identity{digestID}, Op: &SetData{Path: "/k", Data: []byte("v"), Version: 4}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(append(b, b[len(b)-6:]...)) // a field twice
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeFast(b)
		if !ok {
			return
		}
		general, err := decodeGeneral(b)
		if err != nil {
			t.Fatalf("fast path accepted what the general path refuses (%v):\n%s", err, describeCommand(fast))
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("paths disagree:\n fast    %s\n general %s", describeCommand(fast), describeCommand(general))
		}
	})
}

// FuzzEncodeFast checks that the fast encoder writes what the general one
// writes, byte for byte, for every command it takes, and takes none that
// the general one refuses. The fuzzer picks the command's fields.
func FuzzEncodeFast(f *testing.F) {
	f.Add(uint8(0), uint64(1), uint64(2), int64(3), int64(1700000000000), uint8(1), "/a", []byte("v"), int32(-1), uint8(2), int32(31), "world", "anyone", uint64(4), uint64(3), false)
	f.Add(uint8(1), uint64(0), uint64(0), int64(-5), int64(0), uint8(0), "", []byte(nil), int32(0), uint8(0), int32(0), "", "", uint64(0), uint64(0), true)
	f.Add(uint8(2), uint64(1), uint64(1), int64(1), int64(1), uint8(3), "/\xff", []byte("x"), int32(7), uint8(9), int32(-1), "digest", "u:p", uint64(1), uint64(1), false)
	f.Add(uint8(3), uint64(1), uint64(1), int64(1), int64(1), uint8(70), "/c", []byte(nil), int32(2), uint8(1), int32(1), "d", "\xc0", uint64(1), uint64(1), true)
	f.Fuzz(func(t *testing.T, kind uint8, member, reqSeq uint64, session, timeMs int64, nIDs uint8, path string, data []byte,
		version int32, mode uint8, perms int32, scheme, id string, seq, lowest uint64, flag bool) {
		c := &Command{ID: RequestID{Member: member, Seq: reqSeq}, Session: session, TimeMs: timeMs, System: flag, Seq: seq, LowestUnacked: lowest}
		for i := range int(nIDs) {
			c.Identities = append(c.Identities, Identity{Scheme: scheme, ID: id + string(rune('a'+i%26))})
		}
		switch kind % 6 {
		case 0:
			cr := &Create{Path: path, Data: data, Mode: Mode(mode), TTLMs: timeMs / 7, Parents: !flag}
			for i := range int(mode % 5) {
				cr.ACL = append(cr.ACL, ACL{Perms: Perm(perms) + Perm(i), Scheme: scheme, ID: id})
			}
			c.Op = cr
		case 1:
			c.Op = &Delete{Path: path, Version: version}
		case 2:
			c.Op = &SetData{Path: path, Data: data, Version: version}
		case 3:
			c.Op = &Check{Path: path, Version: version}
		case 4:
			c.Op = &Reap{Path: path}
		}
		fast, ok := encodeFast(c)
		if !ok {
			return
		}
		general, err := encodeGeneral(c)
		if err != nil {
			t.Fatalf("the fast path encoded what the general path refuses (%v):\n%s", err, describeCommand(c))
		}
		if !bytes.Equal(fast, general) {
			t.Fatalf("%s:\nfast    %x\ngeneral %x", describeCommand(c), fast, general)
		}
	})
}

// TestEncodeFastCoverage: the fast encoder takes the commands it is for,
// writing what the general path writes, and declines the rest.
func TestEncodeFastCoverage(t *testing.T) {
	taken, declined := 0, 0
	for _, tc := range codecCases() {
		fast, ok := encodeFast(tc.cmd)
		general, err := encodeGeneral(tc.cmd)
		switch tc.cmd.Op.(type) {
		case *Create, *Delete, *SetData, *Check:
			if !ok && err == nil && len(tc.cmd.Identities) <= MaxIdentities {
				t.Errorf("%s: declined", tc.name)
			}
		default:
			if ok {
				t.Errorf("%s: taken", tc.name)
			}
		}
		if ok {
			taken++
			if err != nil || !bytes.Equal(fast, general) {
				t.Errorf("%s: fast %x, general %x (%v)", tc.name, fast, general, err)
			}
		} else {
			declined++
		}
	}
	if taken == 0 || declined == 0 {
		t.Fatalf("taken %d, declined %d: the cases exercise one side only", taken, declined)
	}
	for name, c := range map[string]*Command{
		"invalid mode":   {Op: &Create{Path: "/a", Mode: 99}},
		"path not UTF-8": {Op: &SetData{Path: "/\xff"}},
		"too many ACL entries": {Op: &Create{Path: "/a", ACL: func() []ACL {
			acl := make([]ACL, MaxACLEntries+1)
			for i := range acl {
				acl[i] = OpenACL()[0]
			}
			return acl
		}()}},
	} {
		if _, ok := encodeFast(c); ok {
			t.Errorf("%s: taken", name)
		}
		if _, err := EncodeCommand(c); err == nil {
			t.Errorf("%s: EncodeCommand accepted it", name)
		}
	}
}
