package wire

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/arbor-coord/arbor/internal/protoscan"
)

// ProtocolVersion is the highest protocol version this package speaks: the
// messages of wire.proto as they are now. Connect negotiates the version a
// connection uses (the lower of the two ends' highest).
const ProtocolVersion = 1

// The WebSocket subprotocols, one per encoding of the same messages. A
// client offers one or both in Sec-WebSocket-Protocol; the server picks one
// and every frame of the connection uses it.
const (
	// SubprotocolProto is binary protobuf, one message per binary frame.
	SubprotocolProto = "arbor.v1.proto"
	// SubprotocolJSON is the protobuf JSON mapping (field names as in
	// wire.proto), one message per text frame: for browsers and debugging.
	SubprotocolJSON = "arbor.v1.json"
)

// The frame limits. Every encoder refuses a message over them and every
// decoder refuses input over them, so every frame that encodes also
// decodes. The server and the client should set the WebSocket read limit
// to MaxFrameBytes.
const (
	// MaxFrameBytes is the largest frame, in either direction and either
	// encoding: room for 1 MiB of node data (base64 in JSON) with plenty of
	// overhead, or a long child list.
	MaxFrameBytes = 4 << 20

	// MaxFrameElements bounds the fields in one frame: tags in the binary
	// encoding (every field occurrence, every element of a repeated field
	// of messages or strings), and an upper bound estimated from '{' and '"'
	// in JSON. The binary decoder checks it before allocating anything, so
	// a hostile frame costs a bounded amount of memory (tens of MiB at
	// worst), never an amount proportional to what it declares.
	MaxFrameElements = 1 << 18
)

// ErrMalformed is wrapped by every error of the decoders and of the
// encoders' validation: the bytes (or the message) are not a valid message
// of this protocol version, whether truncated, of unknown fields, of an op
// missing or given twice, of an unknown enum value, or over a frame limit.
var ErrMalformed = errors.New("wire: malformed message")

// ErrTooLarge is wrapped, besides ErrMalformed, by the errors for a frame
// over MaxFrameBytes or MaxFrameElements, so that a server can answer it
// with WebSocket close code 1009 (message too big).
var ErrTooLarge = errors.New("wire: frame too large")

// EncodeRequest validates r as DecodeRequest would and returns its binary
// encoding, one frame of SubprotocolProto.
func EncodeRequest(r *Request) ([]byte, error) {
	if b, ok := encodeRequestFast(r); ok {
		return b, nil
	}
	return encodeRequestGeneral(r)
}

// encodeRequestGeneral is EncodeRequest for every request: validation,
// Marshal and the limits.
func encodeRequestGeneral(r *Request) ([]byte, error) {
	if err := validateRequest(r); err != nil {
		return nil, fmt.Errorf("wire: encode request: %w", err)
	}
	b, err := proto.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("wire: encode request: %w: %v", ErrMalformed, err)
	}
	if err := scanEncoded(b, requestSchema()); err != nil {
		return nil, fmt.Errorf("wire: encode request: %w", err)
	}
	return b, nil
}

// DecodeRequest decodes and validates one SubprotocolProto frame from a
// client. Every error wraps ErrMalformed. It validates structure only: a
// path, an ACL or a version is for the server to judge (paths with
// internal/zpath). The result does not alias b.
func DecodeRequest(b []byte) (*Request, error) {
	if r, ok := decodeRequestFast(b); ok {
		return r, nil
	}
	return decodeRequestGeneral(b)
}

// decodeRequestGeneral is DecodeRequest for every frame: the schema scan,
// unmarshal and validation.
func decodeRequestGeneral(b []byte) (*Request, error) {
	if err := scanFrame(b, requestSchema()); err != nil {
		return nil, fmt.Errorf("wire: decode request: %w", err)
	}
	r := &Request{}
	if err := proto.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("wire: decode request: %w: %v", ErrMalformed, err)
	}
	if err := validateRequest(r); err != nil {
		return nil, fmt.Errorf("wire: decode request: %w", err)
	}
	return r, nil
}

// EncodeServerMessage validates m as DecodeServerMessage would and returns
// its binary encoding, one frame of SubprotocolProto.
func EncodeServerMessage(m *ServerMessage) ([]byte, error) {
	return AppendServerMessage(nil, m)
}

// AppendServerMessage is EncodeServerMessage appending the frame to dst,
// so that a writer can reuse one buffer for its frames. On an error it
// returns dst unchanged.
func AppendServerMessage(dst []byte, m *ServerMessage) ([]byte, error) {
	if b, ok := appendServerMessageFast(dst, m); ok {
		return b, nil
	}
	return appendServerMessageGeneral(dst, m)
}

// appendServerMessageGeneral is AppendServerMessage for every message:
// validation, Marshal and the limits.
func appendServerMessageGeneral(dst []byte, m *ServerMessage) ([]byte, error) {
	if err := validateServerMessage(m); err != nil {
		return dst, fmt.Errorf("wire: encode server message: %w", err)
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst, fmt.Errorf("wire: encode server message: %w: %v", ErrMalformed, err)
	}
	if err := scanEncoded(b[len(dst):], serverMessageSchema()); err != nil {
		return dst, fmt.Errorf("wire: encode server message: %w", err)
	}
	return b, nil
}

// DecodeServerMessage decodes and validates one SubprotocolProto frame from
// a member. Every error wraps ErrMalformed. The result does not alias b.
func DecodeServerMessage(b []byte) (*ServerMessage, error) {
	if m, ok := decodeServerMessageFast(b); ok {
		return m, nil
	}
	return decodeServerMessageGeneral(b)
}

// decodeServerMessageGeneral is DecodeServerMessage for every frame: the
// schema scan, unmarshal and validation.
func decodeServerMessageGeneral(b []byte) (*ServerMessage, error) {
	if err := scanFrame(b, serverMessageSchema()); err != nil {
		return nil, fmt.Errorf("wire: decode server message: %w", err)
	}
	m := &ServerMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("wire: decode server message: %w: %v", ErrMalformed, err)
	}
	if err := validateServerMessage(m); err != nil {
		return nil, fmt.Errorf("wire: decode server message: %w", err)
	}
	return m, nil
}

// jsonMarshal renders the protobuf JSON mapping with the field names of
// wire.proto (not lowerCamelCase), so that the JSON reads like the schema.
func jsonMarshal(m proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
}

// jsonUnmarshal refuses unknown fields (the zero options do).
func jsonUnmarshal(b []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{}.Unmarshal(b, m)
}

// EncodeRequestJSON validates r as DecodeRequestJSON would and returns its
// JSON rendering, one frame of SubprotocolJSON. The output is not stable
// byte for byte (protojson varies whitespace on purpose); parse it, never
// compare it.
func EncodeRequestJSON(r *Request) ([]byte, error) {
	if err := validateRequest(r); err != nil {
		return nil, fmt.Errorf("wire: encode request json: %w", err)
	}
	b, err := jsonMarshal(r)
	if err != nil {
		return nil, fmt.Errorf("wire: encode request json: %w: %v", ErrMalformed, err)
	}
	if err := checkJSONSize(b); err != nil {
		return nil, fmt.Errorf("wire: encode request json: %w", err)
	}
	return b, nil
}

// DecodeRequestJSON decodes and validates one SubprotocolJSON frame from a
// client, with the same rules as DecodeRequest. It accepts what the
// protobuf JSON mapping accepts: lowerCamelCase field names as well as
// those of wire.proto, enum numbers as well as names; 64-bit integers as
// strings or numbers.
func DecodeRequestJSON(b []byte) (*Request, error) {
	if err := checkJSONSize(b); err != nil {
		return nil, fmt.Errorf("wire: decode request json: %w", err)
	}
	r := &Request{}
	if err := jsonUnmarshal(b, r); err != nil {
		return nil, fmt.Errorf("wire: decode request json: %w: %v", ErrMalformed, err)
	}
	if err := validateRequest(r); err != nil {
		return nil, fmt.Errorf("wire: decode request json: %w", err)
	}
	return r, nil
}

// EncodeServerMessageJSON validates m as DecodeServerMessageJSON would and
// returns its JSON rendering, one frame of SubprotocolJSON.
func EncodeServerMessageJSON(m *ServerMessage) ([]byte, error) {
	return AppendServerMessageJSON(nil, m)
}

// AppendServerMessageJSON is EncodeServerMessageJSON appending the frame to
// dst. On an error it returns dst unchanged.
func AppendServerMessageJSON(dst []byte, m *ServerMessage) ([]byte, error) {
	if err := validateServerMessage(m); err != nil {
		return dst, fmt.Errorf("wire: encode server message json: %w", err)
	}
	b, err := jsonMarshal(m)
	if err != nil {
		return dst, fmt.Errorf("wire: encode server message json: %w: %v", ErrMalformed, err)
	}
	if err := checkJSONSize(b); err != nil {
		return dst, fmt.Errorf("wire: encode server message json: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeServerMessageJSON decodes and validates one SubprotocolJSON frame
// from a member, with the same rules as DecodeServerMessage.
func DecodeServerMessageJSON(b []byte) (*ServerMessage, error) {
	if err := checkJSONSize(b); err != nil {
		return nil, fmt.Errorf("wire: decode server message json: %w", err)
	}
	m := &ServerMessage{}
	if err := jsonUnmarshal(b, m); err != nil {
		return nil, fmt.Errorf("wire: decode server message json: %w: %v", ErrMalformed, err)
	}
	if err := validateServerMessage(m); err != nil {
		return nil, fmt.Errorf("wire: decode server message json: %w", err)
	}
	return m, nil
}

// IsWrite reports whether r's op is a write: create, delete, set_data,
// set_acl, check or multi. A write goes through Raft and must carry seq and
// lowest_unacked_seq; no other request may.
func (r *Request) IsWrite() bool {
	switch r.GetOp().(type) {
	case *Request_Create, *Request_Delete, *Request_SetData, *Request_SetAcl, *Request_Check, *Request_Multi:
		return true
	}
	return false
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrMalformed, ErrTooLarge, fmt.Sprintf(format, args...))
}

func checkJSONSize(b []byte) error {
	if len(b) > MaxFrameBytes {
		return tooLarge("%d bytes, more than MaxFrameBytes (%d)", len(b), MaxFrameBytes)
	}
	// Every message costs a '{' and every string or field name two '"':
	// an upper bound on what unmarshalling allocates, checked before it.
	if n := bytes.Count(b, []byte{'{'}) + bytes.Count(b, []byte{'"'})/2; n > MaxFrameElements {
		return tooLarge("about %d elements, more than MaxFrameElements (%d)", n, MaxFrameElements)
	}
	return nil
}

// ---------------------------------------------------------------------------
// The scanner: the binary frame checked along the schema before unmarshal.

func requestDesc() protoreflect.MessageDescriptor {
	return (*Request)(nil).ProtoReflect().Descriptor()
}

func serverMessageDesc() protoreflect.MessageDescriptor {
	return (*ServerMessage)(nil).ProtoReflect().Descriptor()
}

// The two message types' layouts for the scanner, compiled on first use
// (after the generated code's init has registered the types) and never
// modified.
var (
	requestSchema       = sync.OnceValue(func() *protoscan.Schema { return protoscan.Compile(requestDesc()) })
	serverMessageSchema = sync.OnceValue(func() *protoscan.Schema { return protoscan.Compile(serverMessageDesc()) })
)

// maxDepth bounds nesting; the schema has no recursive message, and its
// deepest path (ServerMessage.response.multi.results.stat) is 4 deep.
const maxDepth = 8

// scanEncoded checks a frame this package has just marshalled from a valid
// message as the peer's decoder will: only its limits can fail, since
// Marshal writes no unknown, repeated-singular or out-of-range field and the
// schema nests no deeper than maxDepth. Every tag takes at least one byte,
// so a frame of at most MaxFrameElements bytes is within every limit and
// is not scanned again.
func scanEncoded(b []byte, sch *protoscan.Schema) error {
	if len(b) <= MaxFrameElements {
		return nil
	}
	return scanFrame(b, sch)
}

// scanFrame refuses a frame over the limits, or holding anything proto3
// unmarshalling would accept silently: an unknown field (kept as unknown
// bytes), a known field with the wrong wire type (likewise), a singular
// field or a oneof given twice (the last would win), a varint out of its
// field's range (it would be truncated).
func scanFrame(b []byte, sch *protoscan.Schema) error {
	if len(b) > MaxFrameBytes {
		return tooLarge("%d bytes, more than MaxFrameBytes (%d)", len(b), MaxFrameBytes)
	}
	err := sch.Scan(b, protoscan.Options{MaxElements: MaxFrameElements, MaxDepth: maxDepth})
	if err == nil {
		return nil
	}
	if errors.Is(err, protoscan.ErrTooManyElements) {
		return tooLarge("more than MaxFrameElements (%d) elements", MaxFrameElements)
	}
	return malformed("%v", err)
}
