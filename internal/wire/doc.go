// Package wire is the arbor client protocol: the messages a client and a
// member exchange over a WebSocket, and their two encodings. It does no I/O;
// server/ws and the client frame its bytes.
//
// The schema is wire.proto (package arbor.wire.v1) and the Go types are
// generated from it into this package (wire.pb.go, committed; see gen.go).
// docs/PROTOCOL.md describes the protocol message by message, for writing a
// client in any language.
//
// A client sends Request frames; a member sends ServerMessage frames, each
// a Response (to the Request with the same id), an Event (a watch fired) or
// a Notice (about the session or the connection). A connection speaks one
// of two WebSocket subprotocols for its whole life: SubprotocolProto
// (binary protobuf, EncodeRequest, DecodeRequest, EncodeServerMessage,
// DecodeServerMessage) or SubprotocolJSON (the protobuf JSON mapping with
// the schema's field names, the ...JSON functions), for browsers and
// debugging.
//
// The decoders never trust their input: they refuse a frame over
// MaxFrameBytes or MaxFrameElements (checked before anything is allocated),
// unknown fields, wrong wire types, a field or oneof given twice, a
// missing op, an unknown enum value, and a seq on a request that is not a
// write or a write without one. Every such error wraps ErrMalformed. The
// encoders apply the same checks, so every message that encodes also
// decodes.
//
// What the decoders do not check is left to the server, which never trusts
// the client, and to the client, which rejects bad arguments before sending
// them: paths (internal/zpath), ACLs, versions, TTLs, data sizes and the
// tree's limits (ops per multi, ACL entries). Response codes are numbers of
// internal/errcode and are passed through unchecked, so that a client can
// report a code newer than itself.
//
// Messages returned by the decoders do not alias the input. The package
// holds no mutable state and every function is safe for concurrent use.
package wire
