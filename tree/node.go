package tree

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// ErrCorruptState reports stored state that does not decode: a damaged
// store or a bug. The tree refuses to continue on it.
var ErrCorruptState = errors.New("tree: corrupt state")

// node is the decoded record of one znode. A node reachable from the
// applier's overlay or returned by a decode is never modified in place:
// changes copy it first (clone), because events and undo records share it.
type node struct {
	mode        Mode
	czxid       int64
	mzxid       int64
	pzxid       int64
	ctime       int64
	mtime       int64
	version     int32
	aversion    int32
	creations   int32 // children ever created: the sequential counter
	numChildren int32
	owner       int64 // session of an ephemeral node
	ttlMs       int64
	acl         []ACL // shared; never modified
	openACL     bool  // acl is OpenACL
	data        []byte
}

func (n *node) clone() *node {
	c := *n
	return &c
}

func (n *node) stat() Stat {
	return Stat{
		Czxid:          n.czxid,
		Mzxid:          n.mzxid,
		Pzxid:          n.pzxid,
		Ctime:          n.ctime,
		Mtime:          n.mtime,
		Version:        n.version,
		Cversion:       2*n.creations - n.numChildren,
		Aversion:       n.aversion,
		EphemeralOwner: n.owner,
		DataLength:     int32(len(n.data)),
		NumChildren:    n.numChildren,
	}
}

// nodeFormat is the version of the node record encoding below.
const nodeFormat = 1

// Node record, format 1:
//
//	format byte, mode byte,
//	uvarint czxid, mzxid, pzxid; varint ctime, mtime;
//	varint version, aversion, creations, numChildren, owner; uvarint ttlMs;
//	uvarint ACL entry count (0 = the open ACL), then per entry
//	  uvarint perms, uvarint len + scheme, uvarint len + id;
//	the data: every remaining byte.
func appendNode(dst []byte, n *node) []byte {
	dst = append(dst, nodeFormat, byte(n.mode))
	dst = binary.AppendUvarint(dst, uint64(n.czxid))
	dst = binary.AppendUvarint(dst, uint64(n.mzxid))
	dst = binary.AppendUvarint(dst, uint64(n.pzxid))
	dst = binary.AppendVarint(dst, n.ctime)
	dst = binary.AppendVarint(dst, n.mtime)
	dst = binary.AppendVarint(dst, int64(n.version))
	dst = binary.AppendVarint(dst, int64(n.aversion))
	dst = binary.AppendVarint(dst, int64(n.creations))
	dst = binary.AppendVarint(dst, int64(n.numChildren))
	dst = binary.AppendVarint(dst, n.owner)
	dst = binary.AppendUvarint(dst, uint64(n.ttlMs))
	if n.openACL {
		dst = append(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(n.acl)))
		for _, a := range n.acl {
			dst = binary.AppendUvarint(dst, uint64(a.Perms))
			dst = binary.AppendUvarint(dst, uint64(len(a.Scheme)))
			dst = append(dst, a.Scheme...)
			dst = binary.AppendUvarint(dst, uint64(len(a.ID)))
			dst = append(dst, a.ID...)
		}
	}
	return append(dst, n.data...)
}

// decoder reads the fields of a record, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorruptState, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.varint(what)
	if int64(int32(v)) != v {
		d.fail(what)
	}
	return int32(v)
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// decodeNode decodes a node record. The result does not alias v. openACL
// is the tree's shared open ACL, used for records that store "open".
func decodeNode(v []byte, openACL []ACL) (*node, error) {
	if len(v) < 2 || v[0] != nodeFormat || !Mode(v[1]).Valid() {
		return nil, fmt.Errorf("%w: bad node record header", ErrCorruptState)
	}
	n := &node{mode: Mode(v[1])}
	d := decoder{b: v[2:]}
	n.czxid = int64(d.uvarint("czxid"))
	n.mzxid = int64(d.uvarint("mzxid"))
	n.pzxid = int64(d.uvarint("pzxid"))
	n.ctime = d.varint("ctime")
	n.mtime = d.varint("mtime")
	n.version = d.int32("version")
	n.aversion = d.int32("aversion")
	n.creations = d.int32("creations")
	n.numChildren = d.int32("numChildren")
	n.owner = d.varint("owner")
	n.ttlMs = int64(d.uvarint("ttl"))
	count := d.uvarint("acl count")
	if d.err != nil {
		return nil, d.err
	}
	if count > MaxACLEntries {
		return nil, fmt.Errorf("%w: %d ACL entries", ErrCorruptState, count)
	}
	if count == 0 {
		n.acl, n.openACL = openACL, true
	} else {
		n.acl = make([]ACL, count)
		for i := range n.acl {
			n.acl[i].Perms = Perm(d.uvarint("acl perms"))
			n.acl[i].Scheme = string(d.bytes("acl scheme"))
			n.acl[i].ID = string(d.bytes("acl id"))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if n.numChildren < 0 {
		return nil, fmt.Errorf("%w: negative child count", ErrCorruptState)
	}
	if len(d.b) > 0 {
		n.data = append([]byte(nil), d.b...)
	}
	return n, nil
}

// sessionRecord is a session's stored record: the Session and where its
// unacknowledged write results are (see once.go).
type sessionRecord struct {
	Session
	// inlineSeq is the Seq of the one result kept in the record itself
	// (0: none), and inline that result, encoded.
	inlineSeq uint64
	inline    []byte
	// keyedHigh bounds the results stored under result keys: each has a
	// Seq in [LowestUnacked, keyedHigh]. 0: none.
	keyedHigh uint64
	// keyedUnknown marks a record of format 1, which did not bound its
	// keyed results: the reader must find keyedHigh in the store.
	keyedUnknown bool
}

// Session record formats:
//
//	1: format byte, varint timeoutMs, uvarint len + password digest,
//	   uvarint lowestUnacked. Every result was under a result key.
//	2: format 1's fields, then uvarint inlineSeq, uvarint len + inline
//	   result if inlineSeq is not 0, and uvarint keyedHigh.
//
// Records are written in format 2; format 1 records, from stores written
// before it, are still read.
const (
	sessionFormat1 = 1
	sessionFormat  = 2
)

func appendSession(dst []byte, s *sessionRecord) []byte {
	dst = append(dst, sessionFormat)
	dst = binary.AppendVarint(dst, int64(s.TimeoutMs))
	dst = binary.AppendUvarint(dst, uint64(len(s.PasswordDigest)))
	dst = append(dst, s.PasswordDigest...)
	dst = binary.AppendUvarint(dst, s.LowestUnacked)
	dst = binary.AppendUvarint(dst, s.inlineSeq)
	if s.inlineSeq != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(s.inline)))
		dst = append(dst, s.inline...)
	}
	return binary.AppendUvarint(dst, s.keyedHigh)
}

func decodeSession(id int64, v []byte) (*sessionRecord, error) {
	if len(v) < 1 || (v[0] != sessionFormat && v[0] != sessionFormat1) {
		return nil, fmt.Errorf("%w: bad session record header", ErrCorruptState)
	}
	d := decoder{b: v[1:]}
	s := &sessionRecord{Session: Session{ID: id, TimeoutMs: d.int32("timeout")}}
	if pw := d.bytes("password digest"); len(pw) > 0 {
		s.PasswordDigest = append([]byte(nil), pw...)
	}
	s.LowestUnacked = d.uvarint("lowest unacked")
	if v[0] == sessionFormat1 {
		s.keyedUnknown = true
	} else {
		s.inlineSeq = d.uvarint("inline seq")
		if s.inlineSeq != 0 {
			s.inline = append([]byte(nil), d.bytes("inline result")...)
		}
		s.keyedHigh = d.uvarint("keyed high")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("session record length")
	}
	if d.err != nil {
		return nil, d.err
	}
	if s.inlineSeq != 0 && s.inlineSeq < s.LowestUnacked {
		return nil, fmt.Errorf("%w: session record keeps result %d below its watermark %d", ErrCorruptState, s.inlineSeq, s.LowestUnacked)
	}
	if s.inlineSeq != 0 {
		if _, _, err := decodeResult(s.inline); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// resultFormat is the version of a recorded write result: format byte,
// then the top-level OpResult, then uvarint (number of multi ops + 1, or 0
// for none) and each op's OpResult; an OpResult is varint code, uvarint
// len + path, and the eleven Stat fields as varints.
const resultFormat = 1

func appendOpResult(dst []byte, r *OpResult) []byte {
	dst = binary.AppendVarint(dst, int64(r.Code))
	dst = binary.AppendUvarint(dst, uint64(len(r.Path)))
	dst = append(dst, r.Path...)
	st := &r.Stat
	for _, v := range [...]int64{st.Czxid, st.Mzxid, st.Ctime, st.Mtime, int64(st.Version), int64(st.Cversion),
		int64(st.Aversion), st.EphemeralOwner, int64(st.DataLength), int64(st.NumChildren), st.Pzxid} {
		dst = binary.AppendVarint(dst, v)
	}
	return dst
}

func appendResult(dst []byte, r *Result) []byte {
	dst = append(dst, resultFormat)
	dst = appendOpResult(dst, &r.OpResult)
	if r.Ops == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Ops))+1)
	for i := range r.Ops {
		dst = appendOpResult(dst, &r.Ops[i])
	}
	return dst
}

func (d *decoder) opResult() OpResult {
	var r OpResult
	r.Code = errcode.Code(d.int32("code"))
	r.Path = string(d.bytes("path"))
	st := &r.Stat
	st.Czxid, st.Mzxid = d.varint("czxid"), d.varint("mzxid")
	st.Ctime, st.Mtime = d.varint("ctime"), d.varint("mtime")
	st.Version, st.Cversion, st.Aversion = d.int32("version"), d.int32("cversion"), d.int32("aversion")
	st.EphemeralOwner = d.varint("owner")
	st.DataLength, st.NumChildren = d.int32("dataLength"), d.int32("numChildren")
	st.Pzxid = d.varint("pzxid")
	return r
}

// decodeResult decodes a recorded write result into its OpResult and Ops.
func decodeResult(v []byte) (OpResult, []OpResult, error) {
	if len(v) < 1 || v[0] != resultFormat {
		return OpResult{}, nil, fmt.Errorf("%w: bad result record header", ErrCorruptState)
	}
	d := decoder{b: v[1:]}
	top := d.opResult()
	var ops []OpResult
	if n := d.uvarint("op count"); n > 0 {
		if n-1 > uint64(len(d.b)) { // each op takes at least a byte
			return OpResult{}, nil, fmt.Errorf("%w: bad result op count", ErrCorruptState)
		}
		ops = make([]OpResult, n-1)
		for i := range ops {
			ops[i] = d.opResult()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("result record length")
	}
	if d.err != nil {
		return OpResult{}, nil, d.err
	}
	return top, ops, nil
}
