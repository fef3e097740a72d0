package protoscan

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The test schema, built in code so that the package needs no generated
// types: every scalar kind the callers use, a packed enum list, a packed
// fixed32 list, a recursive message (for depth) and a oneof.
//
//	syntax = "proto3";
//	package protoscan.test;
//	enum E { E_ZERO = 0; E_ONE = 1; }
//	message T {
//	  bool b = 1; int32 i32 = 2; sint32 s32 = 3; uint32 u32 = 4; E e = 5;
//	  fixed32 f32 = 6; fixed64 f64 = 7; string s = 8; bytes by = 9;
//	  repeated E kinds = 10; repeated fixed32 fixes = 11;
//	  repeated T children = 12; T child = 13;
//	  oneof choice { string a = 14; int64 n = 15; }
//	  int64 i64 = 16;
//	  int64 far = 1000;
//	}
//
// and, in proto2, message G { optional group Grp = 1 { optional int32 x = 2; } }.
func testSchema(t testing.TB) (tmd, gmd protoreflect.MessageDescriptor) {
	t.Helper()
	type fdp = descriptorpb.FieldDescriptorProto
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	field := func(name string, num int32, label *descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *fdp {
		f := &fdp{Name: proto.String(name), Number: proto.Int32(num), Label: label, Type: typ.Enum(), JsonName: proto.String(name)}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const (
		tBool    = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		tInt32   = descriptorpb.FieldDescriptorProto_TYPE_INT32
		tSint32  = descriptorpb.FieldDescriptorProto_TYPE_SINT32
		tUint32  = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		tEnum    = descriptorpb.FieldDescriptorProto_TYPE_ENUM
		tFixed32 = descriptorpb.FieldDescriptorProto_TYPE_FIXED32
		tFixed64 = descriptorpb.FieldDescriptorProto_TYPE_FIXED64
		tString  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tBytes   = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		tMessage = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		tInt64   = descriptorpb.FieldDescriptorProto_TYPE_INT64
		tGroup   = descriptorpb.FieldDescriptorProto_TYPE_GROUP
	)
	a := field("a", 14, opt, tString, "")
	a.OneofIndex = proto.Int32(0)
	n := field("n", 15, opt, tInt64, "")
	n.OneofIndex = proto.Int32(0)
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("protoscan_test.proto"), Package: proto.String("protoscan.test"), Syntax: proto.String("proto3"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("E"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("E_ZERO"), Number: proto.Int32(0)},
				{Name: proto.String("E_ONE"), Number: proto.Int32(1)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("T"),
			Field: []*fdp{
				field("b", 1, opt, tBool, ""), field("i32", 2, opt, tInt32, ""), field("s32", 3, opt, tSint32, ""),
				field("u32", 4, opt, tUint32, ""), field("e", 5, opt, tEnum, ".protoscan.test.E"),
				field("f32", 6, opt, tFixed32, ""), field("f64", 7, opt, tFixed64, ""),
				field("s", 8, opt, tString, ""), field("by", 9, opt, tBytes, ""),
				field("kinds", 10, rep, tEnum, ".protoscan.test.E"), field("fixes", 11, rep, tFixed32, ""),
				field("children", 12, rep, tMessage, ".protoscan.test.T"), field("child", 13, opt, tMessage, ".protoscan.test.T"),
				a, n, field("i64", 16, opt, tInt64, ""), field("far", 1000, opt, tInt64, ""),
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("choice")}},
		}},
	}
	group := &descriptorpb.FileDescriptorProto{
		Name: proto.String("protoscan_test2.proto"), Package: proto.String("protoscan.test2"), Syntax: proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:       proto.String("G"),
			Field:      []*fdp{field("grp", 1, opt, tGroup, ".protoscan.test2.G.Grp")},
			NestedType: []*descriptorpb.DescriptorProto{{Name: proto.String("Grp"), Field: []*fdp{field("x", 2, opt, tInt32, "")}}},
		}},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	gfd, err := protodesc.NewFile(group, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().Get(0), gfd.Messages().Get(0)
}

// Helpers to build encodings by hand.

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func bytesField(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func fixed32Field(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// nest wraps b in depth levels of T.child.
func nest(b []byte, depth int) []byte {
	for range depth {
		b = bytesField(13, b)
	}
	return b
}

// full is a valid encoding setting every field of T, written by
// proto.Marshal.
func full(t testing.TB, md protoreflect.MessageDescriptor) []byte {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	f := md.Fields()
	m.Set(f.ByName("b"), protoreflect.ValueOfBool(true))
	m.Set(f.ByName("i32"), protoreflect.ValueOfInt32(math.MinInt32))
	m.Set(f.ByName("s32"), protoreflect.ValueOfInt32(math.MinInt32))
	m.Set(f.ByName("u32"), protoreflect.ValueOfUint32(math.MaxUint32))
	m.Set(f.ByName("e"), protoreflect.ValueOfEnum(1))
	m.Set(f.ByName("f32"), protoreflect.ValueOfUint32(7))
	m.Set(f.ByName("f64"), protoreflect.ValueOfUint64(8))
	m.Set(f.ByName("s"), protoreflect.ValueOfString("ünï"))
	m.Set(f.ByName("by"), protoreflect.ValueOfBytes([]byte{0, 0xff}))
	kinds := m.Mutable(f.ByName("kinds")).List()
	kinds.Append(protoreflect.ValueOfEnum(1))
	kinds.Append(protoreflect.ValueOfEnum(-1))
	m.Mutable(f.ByName("fixes")).List().Append(protoreflect.ValueOfUint32(9))
	children := m.Mutable(f.ByName("children")).List()
	for range 2 {
		c := dynamicpb.NewMessage(md)
		c.Set(f.ByName("a"), protoreflect.ValueOfString("child"))
		children.Append(protoreflect.ValueOfMessage(c))
	}
	c := dynamicpb.NewMessage(md)
	c.Set(f.ByName("n"), protoreflect.ValueOfInt64(-1))
	m.Set(f.ByName("child"), protoreflect.ValueOfMessage(c))
	m.Set(f.ByName("a"), protoreflect.ValueOfString("top"))
	m.Set(f.ByName("i64"), protoreflect.ValueOfInt64(math.MinInt64))
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var errTooMany = errors.New("too many")

// atMost returns an Element callback allowing n occurrences of each list
// per message, and counting all calls in *calls.
func atMost(n int, calls *int) func(protoreflect.FieldDescriptor, int) error {
	return func(_ protoreflect.FieldDescriptor, i int) error {
		*calls++
		if i > n {
			return errTooMany
		}
		return nil
	}
}

func TestScan(t *testing.T) {
	md, gmd := testSchema(t)
	valid := full(t, md)
	var calls int
	for _, tc := range []struct {
		name string
		md   protoreflect.MessageDescriptor
		b    []byte
		opts Options
		want string // a substring of the error; "" for success
		is   error  // what the error must wrap, if anything
	}{
		{name: "empty", b: nil},
		{name: "every field", b: valid},
		{name: "every field, tight budget", b: valid, opts: Options{MaxElements: 19}},
		{name: "every field, budget one short", b: valid, opts: Options{MaxElements: 18}, want: "more than 18", is: ErrTooManyElements},
		{name: "unknown field", b: varintField(99, 1), want: "unknown field 99 in T"},
		{name: "unknown nested field", b: bytesField(13, varintField(99, 1)), want: "child: unknown field 99 in T"},
		{name: "field number 0", b: varintField(0, 1)[1:], want: "malformed tag"},
		{name: "truncated tag", b: []byte{0x80}, want: "malformed tag"},
		{name: "wrong wire type", b: fixed32Field(2, 1), want: "T.i32: wire type 5, want 0"},
		{name: "string as varint", b: varintField(8, 1), want: "wire type 0, want 2"},
		{name: "group wire type", b: protowire.AppendTag(nil, 13, protowire.StartGroupType), want: "wire type 3"},
		{name: "singular twice", b: cat(varintField(2, 1), varintField(2, 1)), want: "T.i32 given twice"},
		{name: "message twice", b: cat(bytesField(13, nil), bytesField(13, nil)), want: "T.child given twice"},
		{name: "oneof twice", b: cat(bytesField(14, nil), varintField(15, 1)), want: "both a and n given (oneof choice)"},
		{name: "oneof member twice", b: cat(varintField(15, 1), varintField(15, 1)), want: "given twice"},
		{name: "oneof at two depths", b: cat(varintField(15, 1), bytesField(13, varintField(15, 1)))},
		{name: "list repeated", b: cat(bytesField(12, nil), bytesField(12, nil), varintField(10, 1), varintField(10, 0))},
		{name: "bool 2", b: varintField(1, 2), want: "T.b: value 0x2 out of range"},
		{name: "int32 negative", b: varintField(2, math.MaxUint64)},
		{name: "int32 beyond 32 bits", b: varintField(2, 1<<40), want: "out of range"},
		{name: "int32 negative in 5 bytes", b: varintField(2, math.MaxUint32), want: "out of range"},
		{name: "sint32 max", b: varintField(3, math.MaxUint32)},
		{name: "sint32 beyond 32 bits", b: varintField(3, 1<<32), want: "out of range"},
		{name: "uint32 beyond 32 bits", b: varintField(4, 1<<32), want: "out of range"},
		{name: "enum beyond int32", b: varintField(5, 1<<31), want: "out of range"},
		{name: "enum unknown value", b: varintField(5, 7)},
		{name: "int64 any", b: varintField(16, math.MaxUint64)},
		{name: "overlong varint", b: cat(protowire.AppendTag(nil, 16, protowire.VarintType), bytes.Repeat([]byte{0x80}, 10), []byte{0}), want: "T.i64:"},
		{name: "truncated fixed32", b: protowire.AppendTag(nil, 6, protowire.Fixed32Type), want: "T.f32:"},
		{name: "length beyond input", b: cat(protowire.AppendTag(nil, 9, protowire.BytesType), protowire.AppendVarint(nil, 1<<40)), want: "T.by:"},
		{name: "packed enum", b: bytesField(10, []byte{1, 0, 1})},
		{name: "packed enum out of range", b: bytesField(10, protowire.AppendVarint([]byte{1}, 1<<40)), want: "T.kinds: value 0x10000000000 out of range"},
		{name: "packed enum truncated", b: bytesField(10, []byte{0x80}), want: "T.kinds:"},
		{name: "packed fixed32", b: bytesField(11, make([]byte, 8))},
		{name: "packed fixed32 torn", b: bytesField(11, make([]byte, 6)), want: "packed fixed32 list of 6 bytes"},
		{name: "unpacked fixed32", b: cat(fixed32Field(11, 1), fixed32Field(11, 2))},
		{name: "depth at the bound", b: nest(nil, 3), opts: Options{MaxDepth: 3}},
		{name: "depth over the bound", b: nest(nil, 4), opts: Options{MaxDepth: 3}, want: "child: child: child: child: T: nested deeper than 3"},
		{name: "default depth", b: nest(nil, DefaultMaxDepth)},
		{name: "default depth exceeded", b: nest(nil, DefaultMaxDepth+1), want: "nested deeper than 32"},
		{name: "list within limit", b: cat(bytesField(12, nil), bytesField(12, nil)), opts: Options{Element: atMost(2, &calls)}},
		{name: "list over limit", b: cat(bytesField(12, nil), bytesField(12, nil), bytesField(12, nil)), opts: Options{Element: atMost(2, &calls)}, want: "children[2]: too many", is: errTooMany},
		{name: "limit is per message", b: cat(bytesField(12, bytesField(12, nil)), bytesField(12, bytesField(12, nil))), opts: Options{Element: atMost(1, &calls)}, want: "children[1]: too many"},
		{name: "nested list over limit", b: bytesField(13, cat(varintField(10, 1), varintField(10, 1))), opts: Options{Element: atMost(1, &calls)}, want: "child: kinds[1]: too many"},
		{name: "packed elements are not occurrences", b: bytesField(10, []byte{1, 1, 1}), opts: Options{Element: atMost(1, &calls)}},
		{name: "elements counted at every depth", b: nest(nil, 5), opts: Options{MaxElements: 4}, is: ErrTooManyElements},
		{name: "group", md: gmd, b: cat(protowire.AppendTag(nil, 1, protowire.StartGroupType), protowire.AppendTag(nil, 1, protowire.EndGroupType)), want: "G.grp: kind group not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.md
			if m == nil {
				m = md
			}
			err := Scan(tc.b, m, tc.opts)
			switch {
			case tc.want == "" && tc.is == nil && err != nil:
				t.Fatalf("Scan: %v", err)
			case (tc.want != "" || tc.is != nil) && err == nil:
				t.Fatalf("Scan succeeded; want an error mentioning %q", tc.want)
			case err != nil && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not mention %q", err, tc.want)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
	if calls == 0 {
		t.Error("Element was never called")
	}
}

// Scan sees the lists in input order, one call per occurrence.
func TestScanElementCalls(t *testing.T) {
	md, _ := testSchema(t)
	var got []string
	b := cat(varintField(10, 1), bytesField(12, varintField(10, 0)), varintField(10, 0), bytesField(10, []byte{1, 1}))
	err := Scan(b, md, Options{Element: func(fd protoreflect.FieldDescriptor, n int) error {
		got = append(got, string(fd.Name())+"#"+string(rune('0'+n)))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "kinds#1 children#1 kinds#1 kinds#2"; strings.Join(got, " ") != want {
		t.Errorf("calls %q, want %q", strings.Join(got, " "), want)
	}
}

func TestCheckSchema(t *testing.T) {
	md, gmd := testSchema(t)
	if err := CheckSchema(md); err != nil {
		t.Errorf("CheckSchema(T): %v", err)
	}
	if err := CheckSchema(gmd); err == nil || !strings.Contains(err.Error(), "protoscan.test2.G.grp has kind group") {
		t.Errorf("CheckSchema(G) = %v, want the group refused", err)
	}
}

// FuzzScan checks that Scan never panics, and that it is strict: whatever
// it accepts unmarshals (but for invalid UTF-8, which Unmarshal checks)
// with no unknown fields, and re-marshals to bytes Scan accepts.
func FuzzScan(f *testing.F) {
	md, _ := testSchema(f)
	valid := full(f, md)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(nest(varintField(2, 1), 5))
	f.Add(bytesField(10, []byte{1, 0, 1}))
	f.Add(cat(bytesField(14, nil), varintField(15, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := Scan(b, md, Options{MaxElements: 1 << 10, MaxDepth: 8}); err != nil {
			return
		}
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(b, m); err != nil {
			if !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("Scan accepted %x, which does not unmarshal: %v", b, err)
			}
			return
		}
		if u := unknown(m); u != "" {
			t.Fatalf("Scan accepted %x, which unmarshals with unknown fields in %s", b, u)
		}
		again, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := Scan(again, md, Options{}); err != nil {
			t.Fatalf("Scan refuses the re-encoding of what it accepted: %v", err)
		}
	})
}

// unknown returns the name of a message within m holding unknown fields,
// or "".
func unknown(m protoreflect.Message) string {
	if len(m.GetUnknown()) > 0 {
		return string(m.Descriptor().FullName())
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				if found = unknown(v.List().Get(i).Message()); found != "" {
					return false
				}
			}
		case fd.Message() != nil:
			found = unknown(v.Message())
		}
		return found == ""
	})
	return found
}

func BenchmarkScan(b *testing.B) {
	md, _ := testSchema(b)
	valid := full(b, md)
	sch := Compile(md) // as the callers do, once
	b.SetBytes(int64(len(valid)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sch.Scan(valid, Options{MaxElements: 1 << 10}); err != nil {
			b.Fatal(err)
		}
	}
}

// A compiled schema finds a field numbered past its dense table, once, and
// still refuses the numbers around it; it scans as Scan does, any number
// of times.
func TestSchemaFarField(t *testing.T) {
	md, _ := testSchema(t)
	sch := Compile(md)
	far := varintField(1000, 5)
	for i := range 2 {
		if err := sch.Scan(far, Options{}); err != nil {
			t.Fatalf("scan %d of field 1000: %v", i, err)
		}
	}
	if err := sch.Scan(append(far, far...), Options{}); err == nil || !strings.Contains(err.Error(), "T.far given twice") {
		t.Errorf("field 1000 twice: %v", err)
	}
	for _, num := range []protowire.Number{999, 1001, 255, 256, 17} {
		if err := sch.Scan(varintField(num, 5), Options{}); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("field %d: %v, want unknown", num, err)
		}
	}
	// The nested and recursive message types are compiled too.
	nested := bytesField(13, bytesField(13, varintField(1000, 1)))
	if err := sch.Scan(nested, Options{}); err != nil {
		t.Errorf("nested: %v", err)
	}
	if err := sch.Scan(nested, Options{MaxDepth: 1}); err == nil {
		t.Error("depth 2 scanned with MaxDepth 1")
	}
}
