// Package protoscan checks an encoded protobuf message against its
// descriptor before it is unmarshalled, strictly: it refuses what
// proto.Unmarshal would accept silently or turn into an allocation out of
// proportion to a caller's limits.
//
// Scan refuses an unknown field (Unmarshal keeps it as unknown bytes), a
// known field with the wrong wire type (likewise), a singular field or a
// oneof given twice (the last would win), a varint out of its field's
// range (it would be truncated), a group, a message nested deeper than
// Options.MaxDepth, more tags in all than Options.MaxElements, and any
// element of a repeated field that Options.Element refuses. It allocates
// nothing, so a caller can run it on untrusted input of any size and then
// unmarshal knowing what that will cost.
//
// Scan does not check UTF-8: proto.Unmarshal does, for proto3 strings. Nor
// does it check enum values against their declared names (proto3 enums are
// open): that is the caller's validation after unmarshalling.
//
// It serves the decoders of tree (the durable command format) and
// internal/wire (the client protocol). Each wraps Scan's errors into its own
// sentinel, and ErrTooManyElements lets a caller tell an input that is too
// large from one that is malformed. Scan is a pure function, safe for
// concurrent use; Options.Element is called from the calling goroutine.
//
// Varint, Bytes, Fields, String, Int32 and Sint32 serve hand-written
// decoders of a message's commonest shapes, which skip Scan and Unmarshal
// on a hot path: they are stricter than both, so that such a decoder can
// accept a subset of what the general path accepts and hand the rest to
// it.
//
// Scan compiles the descriptor on every call. A caller that scans many
// inputs of one type compiles it once (Compile) and calls the Schema's
// Scan, which looks fields up in a table instead of through the
// descriptor's methods: about 2.4 times faster on the package's benchmark.
package protoscan
