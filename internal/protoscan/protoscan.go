package protoscan

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxFields is the most fields, and the most oneofs, a message may declare
// for Scan to check it: it tracks them in fixed-size sets. A field beyond
// it is refused; CheckSchema finds such messages ahead of time.
const MaxFields = 64

// DefaultMaxDepth is the nesting bound when Options.MaxDepth is zero.
const DefaultMaxDepth = 32

// ErrTooManyElements is wrapped by the error Scan returns when the input
// holds more tags than Options.MaxElements.
var ErrTooManyElements = errors.New("protoscan: too many elements")

// Options are the limits of one Scan. The zero value bounds nesting by
// DefaultMaxDepth and nothing else.
type Options struct {
	// MaxElements bounds the tags in the whole input: every field
	// occurrence, every element of a repeated field of messages, strings or
	// bytes, at every depth. Zero means no bound beyond the input's length.
	MaxElements int
	// MaxDepth bounds nesting: the message given to Scan is at depth 0, so
	// its fields of message type are at depth 1. Zero means
	// DefaultMaxDepth.
	MaxDepth int
	// Element, if not nil, is called for every occurrence of a repeated
	// field before it is scanned, with n counting the occurrences of fd in
	// the enclosing message so far (1 for the first). A non-nil error stops
	// Scan, which returns it wrapped with the position. A caller bounds each
	// list with it, and can sum across lists (it may keep state: Scan calls
	// it in input order, from the calling goroutine). An element of a
	// packed list is not an occurrence; the list's bytes bound those.
	Element func(fd protoreflect.FieldDescriptor, n int) error
}

// Scan checks b, the encoding of a message of type md, as the package
// documentation describes, and returns the first violation found. The
// error says where, as a path of field names from md ("multi: ops[3]:
// create: unknown field 9 in Create"). It compiles md each time: a caller
// that scans many inputs of one type compiles it once and uses
// Schema.Scan.
func Scan(b []byte, md protoreflect.MessageDescriptor, opts Options) error {
	return Compile(md).Scan(b, opts)
}

// Schema is a message type laid out for scanning: its fields in a table by
// number, with what Scan checks of each, so that a scan makes no
// descriptor calls on its hot path. It is immutable once compiled and safe
// for concurrent use.
type Schema struct {
	md     protoreflect.MessageDescriptor
	dense  []*field                    // by field number, below denseNumbers
	sparse map[protowire.Number]*field // numbers from denseNumbers on
}

// field is what Scan needs to know of one field.
type field struct {
	fd    protoreflect.FieldDescriptor
	idx   int
	kind  protoreflect.Kind
	want  protowire.Type // unpacked; -1 for a kind Scan does not support
	list  bool
	oneof protoreflect.OneofDescriptor // nil if none
	msg   *Schema                      // for a message field
}

// denseNumbers bounds the field numbers kept in a Schema's table; larger
// ones (rare) go in a map.
const denseNumbers = 256

// Compile lays out md, and every message type reachable from it, for
// Schema.Scan.
func Compile(md protoreflect.MessageDescriptor) *Schema {
	return compile(md, map[protoreflect.FullName]*Schema{})
}

func compile(md protoreflect.MessageDescriptor, done map[protoreflect.FullName]*Schema) *Schema {
	if s := done[md.FullName()]; s != nil {
		return s
	}
	s := &Schema{md: md}
	done[md.FullName()] = s
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := &field{fd: fd, idx: fd.Index(), kind: fd.Kind(), want: wireType(fd.Kind()), list: fd.IsList(), oneof: fd.ContainingOneof()}
		if fd.Message() != nil {
			f.msg = compile(fd.Message(), done)
		}
		if num := fd.Number(); num < denseNumbers {
			if int(num) >= len(s.dense) {
				s.dense = append(s.dense, make([]*field, int(num)+1-len(s.dense))...)
			}
			s.dense[num] = f
		} else {
			if s.sparse == nil {
				s.sparse = make(map[protowire.Number]*field)
			}
			s.sparse[num] = f
		}
	}
	return s
}

// field returns the field numbered num, or nil.
func (s *Schema) field(num protowire.Number) *field {
	if num >= 0 && int(num) < len(s.dense) {
		return s.dense[num]
	}
	return s.sparse[num]
}

// Scan is the package's Scan of b as an encoding of s's message type.
func (s *Schema) Scan(b []byte, opts Options) error {
	sc := scanner{opts: opts, budget: opts.MaxElements, maxDepth: opts.MaxDepth}
	if sc.maxDepth == 0 {
		sc.maxDepth = DefaultMaxDepth
	}
	return sc.message(b, s, 0)
}

type scanner struct {
	opts     Options
	budget   int // tags left; unused if opts.MaxElements is 0
	maxDepth int
}

func (s *scanner) message(b []byte, sch *Schema, depth int) error {
	if depth > s.maxDepth {
		return fmt.Errorf("%s: nested deeper than %d", sch.md.Name(), s.maxDepth)
	}
	if s.opts.Element != nil {
		var counts [MaxFields]int32 // zeroed only if needed: the hot path of wire has no Element
		return s.fields(b, sch, depth, &counts)
	}
	return s.fields(b, sch, depth, nil)
}

// fields scans the fields of one message. counts, if not nil, counts the
// occurrences of each repeated field by index, for Options.Element.
func (s *scanner) fields(b []byte, sch *Schema, depth int, counts *[MaxFields]int32) error {
	var seen, oneofSeen uint64 // by field and oneof index
	md := sch.md               // for errors only
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed tag in %s: %v", md.Name(), protowire.ParseError(n))
		}
		b = b[n:]
		if s.opts.MaxElements > 0 {
			if s.budget--; s.budget < 0 {
				return fmt.Errorf("%w: more than %d", ErrTooManyElements, s.opts.MaxElements)
			}
		}
		f := sch.field(num)
		if f == nil {
			return fmt.Errorf("unknown field %d in %s", num, md.Name())
		}
		fd, idx, want := f.fd, f.idx, f.want
		if idx >= MaxFields {
			return fmt.Errorf("%s.%s: field index %d beyond the scanner's capacity", md.Name(), fd.Name(), idx)
		}
		packed := f.list && typ == protowire.BytesType && want != protowire.BytesType && want >= 0
		if typ != want && !packed {
			if want < 0 {
				return fmt.Errorf("%s.%s: kind %v not supported", md.Name(), fd.Name(), f.kind)
			}
			return fmt.Errorf("%s.%s: wire type %d, want %d", md.Name(), fd.Name(), typ, want)
		}
		if f.list {
			if counts != nil && !packed {
				counts[idx]++
				if err := s.opts.Element(fd, int(counts[idx])); err != nil {
					return fmt.Errorf("%s[%d]: %w", fd.Name(), counts[idx]-1, err)
				}
			}
		} else {
			bit := uint64(1) << idx
			if seen&bit != 0 {
				return fmt.Errorf("%s.%s given twice", md.Name(), fd.Name())
			}
			seen |= bit
			if f.oneof != nil {
				if err := checkOneof(md, fd, f.oneof, seen, &oneofSeen); err != nil {
					return err
				}
			}
		}
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%s.%s: %v", md.Name(), fd.Name(), protowire.ParseError(n))
			}
			b = b[n:]
			if !varintInRange(f.kind, v) {
				return fmt.Errorf("%s.%s: value %#x out of range", md.Name(), fd.Name(), v)
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%s.%s: %v", md.Name(), fd.Name(), protowire.ParseError(n))
			}
			b = b[n:]
			switch {
			case packed:
				if err := packedList(v, f.kind, want); err != nil {
					return fmt.Errorf("%s.%s: %w", md.Name(), fd.Name(), err)
				}
			case f.msg != nil:
				if err := s.message(v, f.msg, depth+1); err != nil {
					if f.list && counts != nil {
						return fmt.Errorf("%s[%d]: %w", fd.Name(), counts[idx]-1, err)
					}
					return fmt.Errorf("%s: %w", fd.Name(), err)
				}
			}
		default: // fixed32 or fixed64: wireType has checked it is the field's
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%s.%s: %v", md.Name(), fd.Name(), protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

// checkOneof records fd, a member of od, in oneofSeen, refusing a second
// member of the same oneof. seen already holds fd.
func checkOneof(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, od protoreflect.OneofDescriptor, seen uint64, oneofSeen *uint64) error {
	oidx := od.Index()
	if oidx >= MaxFields {
		return fmt.Errorf("%s: oneof index %d beyond the scanner's capacity", md.Name(), oidx)
	}
	bit := uint64(1) << oidx
	if *oneofSeen&bit == 0 {
		*oneofSeen |= bit
		return nil
	}
	others := od.Fields()
	for i := range others.Len() {
		if o := others.Get(i); o.Index() != fd.Index() && seen&(uint64(1)<<o.Index()) != 0 {
			return fmt.Errorf("%s: both %s and %s given (oneof %s)", md.Name(), o.Name(), fd.Name(), od.Name())
		}
	}
	return fmt.Errorf("%s: two fields of oneof %s", md.Name(), od.Name()) // not reached: seen has the other
}

// packedList checks the elements of a packed repeated field of scalars,
// whose wire type unpacked is want.
func packedList(v []byte, kind protoreflect.Kind, want protowire.Type) error {
	switch want {
	case protowire.Fixed32Type:
		if len(v)%4 != 0 {
			return fmt.Errorf("packed fixed32 list of %d bytes", len(v))
		}
	case protowire.Fixed64Type:
		if len(v)%8 != 0 {
			return fmt.Errorf("packed fixed64 list of %d bytes", len(v))
		}
	case protowire.VarintType:
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			v = v[n:]
			if !varintInRange(kind, x) {
				return fmt.Errorf("value %#x out of range", x)
			}
		}
	}
	return nil
}

// wireType returns the wire type of a non-packed field of kind k, or -1 for
// a kind Scan does not support (groups).
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return -1
}

// varintInRange reports whether v is a value of a field of kind k, which
// unmarshalling would otherwise truncate silently. Refusing the others also
// keeps a re-encoding no longer than its input.
func varintInRange(k protoreflect.Kind, v uint64) bool {
	switch k {
	case protoreflect.BoolKind:
		return v <= 1
	case protoreflect.Int32Kind, protoreflect.EnumKind:
		return int64(v) == int64(int32(v))
	case protoreflect.Uint32Kind, protoreflect.Sint32Kind:
		// A sint32 is zigzag-encoded: its range is all of uint32.
		return v <= math.MaxUint32
	}
	return true
}

// CheckSchema reports the first property of md, or of a message reachable
// from it, that Scan cannot check: more than MaxFields fields or oneofs, a
// group, or a map. A test of each caller runs it on its schema, so that a schema
// change that breaks Scan fails there rather than in production.
func CheckSchema(md protoreflect.MessageDescriptor) error {
	return checkSchema(md, map[protoreflect.FullName]bool{})
}

func checkSchema(md protoreflect.MessageDescriptor, done map[protoreflect.FullName]bool) error {
	if done[md.FullName()] {
		return nil
	}
	done[md.FullName()] = true
	fields := md.Fields()
	if fields.Len() > MaxFields || md.Oneofs().Len() > MaxFields {
		return fmt.Errorf("%s has %d fields and %d oneofs; Scan tracks at most MaxFields (%d)",
			md.FullName(), fields.Len(), md.Oneofs().Len(), MaxFields)
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		if wireType(fd.Kind()) < 0 {
			return fmt.Errorf("%s has kind %v, which Scan does not support", fd.FullName(), fd.Kind())
		}
		if fd.IsMap() {
			return fmt.Errorf("%s is a map, which Scan does not support", fd.FullName())
		}
		if fd.Message() != nil {
			if err := checkSchema(fd.Message(), done); err != nil {
				return err
			}
		}
	}
	return nil
}
