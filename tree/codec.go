package tree

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/protoscan"
	"github.com/arbor-coord/arbor/tree/internal/treepb"
)

// CommandFormat is the version of the durable command encoding that
// EncodeCommand writes. DecodeCommand reads this format only; the schema is
// tree/internal/treepb/command.proto.
const CommandFormat = 1

// The limits of the command codec. EncodeCommand refuses a command over any
// of them and DecodeCommand reports one as corrupt, so every command that
// encodes also decodes. The server should check them before proposing, to
// answer BadArguments rather than fail the encode.
//
// DecodeCommand checks the counts before it allocates anything, so an
// adversarial input of MaxCommandBytes costs at most a few tens of MiB of
// garbage, never an allocation proportional to a declared length.
const (
	// MaxCommandBytes is the largest encoded command.
	MaxCommandBytes = 8 << 20
	// MaxMultiOps is the most ops in one Multi.
	MaxMultiOps = 10000
	// MaxIdentities is the most identities a command carries.
	MaxIdentities = 64
	// MaxACLEntries is the most entries in the ACL of one Create or SetACL,
	// and in a stored ACL after "auth" entries are expanded (InvalidACL
	// beyond it).
	MaxACLEntries = 1024
	// MaxCommandACLEntries is the most ACL entries in one command, summed
	// over the creates of a Multi: a multi may be long or carry long ACLs,
	// not both.
	MaxCommandACLEntries = 1 << 16
)

// ErrCorruptCommand is wrapped by every error DecodeCommand returns: the
// bytes are not a command this build can read, whether malformed,
// truncated, over a limit, or of an unknown format. A committed entry that
// fails to decode must stop the member rather than be skipped, since
// skipping it would make the member's state diverge.
var ErrCorruptCommand = errors.New("tree: corrupt command")

// EncodeCommand returns the durable encoding of c, the bytes to propose to
// Raft. It fails if c has no Op, an Op of a type not listed at Command.Op
// (or a nil one), a Multi containing anything but *Create, *Delete,
// *SetData and *Check, a Create with an invalid Mode, a string that is not
// valid UTF-8, or a count or size over one of the codec's limits. It does
// not otherwise validate c: paths, ACLs, versions and TTLs are checked when
// the command is applied, identically on every member.
//
// EncodeCommand does not retain c; the result does not alias it.
func EncodeCommand(c *Command) ([]byte, error) {
	if c == nil {
		return nil, errors.New("tree: encode command: nil command")
	}
	if b, ok := encodeFast(c); ok {
		return b, nil
	}
	return encodeGeneral(c)
}

// encodeGeneral is EncodeCommand for every command: the conversion to
// protobuf messages, Marshal and the limits.
func encodeGeneral(c *Command) ([]byte, error) {
	if len(c.Identities) > MaxIdentities {
		return nil, fmt.Errorf("tree: encode command: %d identities, more than MaxIdentities (%d)", len(c.Identities), MaxIdentities)
	}
	e := encoder{}
	pc := &treepb.Command{
		Format:        CommandFormat,
		RequestMember: c.ID.Member,
		RequestSeq:    c.ID.Seq,
		Session:       c.Session,
		TimeMs:        c.TimeMs,
		System:        c.System,
		WriteSeq:      c.Seq,
		LowestUnacked: c.LowestUnacked,
	}
	if len(c.Identities) > 0 {
		pc.Identities = make([]*treepb.Identity, len(c.Identities))
		for i, id := range c.Identities {
			pc.Identities[i] = &treepb.Identity{Scheme: id.Scheme, Id: id.ID}
		}
	}
	if err := e.op(pc, c.Op); err != nil {
		return nil, fmt.Errorf("tree: encode command: %w", err)
	}
	b, err := proto.Marshal(pc)
	if err != nil {
		return nil, fmt.Errorf("tree: encode command: %w", err)
	}
	if len(b) > MaxCommandBytes {
		return nil, fmt.Errorf("tree: encode command: %d bytes, more than MaxCommandBytes (%d)", len(b), MaxCommandBytes)
	}
	return b, nil
}

// encoder converts Go ops to protobuf messages, counting the ACL entries of
// the whole command.
type encoder struct {
	aclEntries int
}

// op sets pc.Op to the conversion of op.
func (e *encoder) op(pc *treepb.Command, op Op) error {
	switch op := op.(type) {
	case nil:
		return errors.New("no op")
	case *Create:
		pcr, err := e.create(op)
		if err != nil {
			return err
		}
		pc.Op = &treepb.Command_Create{Create: pcr}
	case *Delete:
		if op == nil {
			return errors.New("nil *Delete")
		}
		pc.Op = &treepb.Command_Delete{Delete: &treepb.Delete{Path: op.Path, Version: op.Version}}
	case *SetData:
		if op == nil {
			return errors.New("nil *SetData")
		}
		pc.Op = &treepb.Command_SetData{SetData: &treepb.SetData{Path: op.Path, Data: op.Data, Version: op.Version}}
	case *Check:
		if op == nil {
			return errors.New("nil *Check")
		}
		pc.Op = &treepb.Command_Check{Check: &treepb.Check{Path: op.Path, Version: op.Version}}
	case *SetACL:
		if op == nil {
			return errors.New("nil *SetACL")
		}
		acl, err := e.acl(op.ACL)
		if err != nil {
			return fmt.Errorf("set acl: %w", err)
		}
		pc.Op = &treepb.Command_SetAcl{SetAcl: &treepb.SetACL{Path: op.Path, Acl: acl, Version: op.Version}}
	case *Multi:
		if op == nil {
			return errors.New("nil *Multi")
		}
		if len(op.Ops) > MaxMultiOps {
			return fmt.Errorf("multi: %d ops, more than MaxMultiOps (%d)", len(op.Ops), MaxMultiOps)
		}
		pm := &treepb.Multi{}
		if len(op.Ops) > 0 {
			pm.Ops = make([]*treepb.MultiOp, len(op.Ops))
		}
		for i, sub := range op.Ops {
			pmo, err := e.multiOp(sub)
			if err != nil {
				return fmt.Errorf("multi op %d: %w", i, err)
			}
			pm.Ops[i] = pmo
		}
		pc.Op = &treepb.Command_Multi{Multi: pm}
	case *CreateSession:
		if op == nil {
			return errors.New("nil *CreateSession")
		}
		pc.Op = &treepb.Command_CreateSession{CreateSession: &treepb.CreateSession{
			Id: op.ID, TimeoutMs: op.TimeoutMs, PasswordDigest: op.PasswordDigest,
		}}
	case *CloseSession:
		if op == nil {
			return errors.New("nil *CloseSession")
		}
		pc.Op = &treepb.Command_CloseSession{CloseSession: &treepb.CloseSession{Id: op.ID, Expired: op.Expired}}
	case *Reap:
		if op == nil {
			return errors.New("nil *Reap")
		}
		pc.Op = &treepb.Command_Reap{Reap: &treepb.Reap{Path: op.Path}}
	default:
		return fmt.Errorf("unknown op type %T", op)
	}
	return nil
}

// multiOp converts one op of a Multi, which may only be a Create, Delete,
// SetData or Check.
func (e *encoder) multiOp(op Op) (*treepb.MultiOp, error) {
	pmo := &treepb.MultiOp{}
	switch op := op.(type) {
	case nil:
		return nil, errors.New("no op")
	case *Create:
		pcr, err := e.create(op)
		if err != nil {
			return nil, err
		}
		pmo.Op = &treepb.MultiOp_Create{Create: pcr}
	case *Delete:
		if op == nil {
			return nil, errors.New("nil *Delete")
		}
		pmo.Op = &treepb.MultiOp_Delete{Delete: &treepb.Delete{Path: op.Path, Version: op.Version}}
	case *SetData:
		if op == nil {
			return nil, errors.New("nil *SetData")
		}
		pmo.Op = &treepb.MultiOp_SetData{SetData: &treepb.SetData{Path: op.Path, Data: op.Data, Version: op.Version}}
	case *Check:
		if op == nil {
			return nil, errors.New("nil *Check")
		}
		pmo.Op = &treepb.MultiOp_Check{Check: &treepb.Check{Path: op.Path, Version: op.Version}}
	default:
		return nil, fmt.Errorf("op type %T not allowed in a multi", op)
	}
	return pmo, nil
}

func (e *encoder) create(op *Create) (*treepb.Create, error) {
	if op == nil {
		return nil, errors.New("nil *Create")
	}
	if !op.Mode.Valid() {
		return nil, fmt.Errorf("create: invalid mode %d", op.Mode)
	}
	acl, err := e.acl(op.ACL)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return &treepb.Create{
		Path: op.Path, Data: op.Data, Acl: acl, Mode: treepb.CreateMode(op.Mode),
		TtlMs: op.TTLMs, Parents: op.Parents,
	}, nil
}

func (e *encoder) acl(acl []ACL) ([]*treepb.ACL, error) {
	if len(acl) > MaxACLEntries {
		// The same answer as the tree's own check (fixACL) would give.
		return nil, fmt.Errorf("%w: %d ACL entries, more than MaxACLEntries (%d)", errcode.InvalidACL, len(acl), MaxACLEntries)
	}
	e.aclEntries += len(acl)
	if e.aclEntries > MaxCommandACLEntries {
		return nil, fmt.Errorf("more than MaxCommandACLEntries (%d) ACL entries in the command", MaxCommandACLEntries)
	}
	if len(acl) == 0 {
		return nil, nil
	}
	pacl := make([]*treepb.ACL, len(acl))
	for i, a := range acl {
		pacl[i] = &treepb.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, Id: a.ID}
	}
	return pacl, nil
}

// DecodeCommand decodes a command written by EncodeCommand. Every error it
// returns wraps ErrCorruptCommand. It never panics, whatever b holds, and
// checks every count against the codec's limits before allocating for it.
//
// Decoding is strict, so that every member reads a log entry the same way
// or refuses it: besides malformed protobuf it refuses a format other than
// CommandFormat, fields unknown to this format, a non-repeated field given
// twice, two ops at once, a value out of its field's range, a missing op,
// and a Create mode that is not Mode.Valid. It does not validate what
// Apply validates (paths, ACLs, versions, TTLs).
//
// Every zero-length slice decodes as nil: Data, ACL, Identities,
// PasswordDigest and Multi.Ops, so a command decodes equal to the one
// encoded except that empty non-nil slices come back nil. The result does
// not alias b.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > MaxCommandBytes {
		return nil, corrupt(fmt.Errorf("%d bytes, more than MaxCommandBytes (%d)", len(b), MaxCommandBytes))
	}
	if c, ok := decodeFast(b); ok {
		return c, nil
	}
	return decodeGeneral(b)
}

// decodeGeneral is DecodeCommand's path for every input decodeFast
// declines: it checks b along the schema, then unmarshals it.
func decodeGeneral(b []byte) (*Command, error) {
	if err := checkFormat(b); err != nil {
		return nil, corrupt(err)
	}
	if err := scanCommand(b); err != nil {
		return nil, corrupt(err)
	}
	pc := &treepb.Command{}
	if err := proto.Unmarshal(b, pc); err != nil {
		return nil, corrupt(err)
	}
	c, err := fromProto(pc)
	if err != nil {
		return nil, corrupt(err)
	}
	return c, nil
}

func corrupt(err error) error {
	return fmt.Errorf("%w: %v", ErrCorruptCommand, err)
}

// checkFormat finds the format field at the top level of b and checks it
// first, so that a command of a newer format is reported as such rather
// than as whatever else this build does not understand about it.
func checkFormat(b []byte) error {
	format, found := uint64(0), false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("malformed format: %v", protowire.ParseError(n))
			}
			b = b[n:]
			format, found = v, true
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("malformed field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	switch {
	case !found:
		return errors.New("no format: not an encoded command")
	case format == 0:
		return errors.New("format 0: not an encoded command")
	case format != CommandFormat:
		return fmt.Errorf("format %d, but this build of arbor reads format %d only: is a newer version writing this log?", format, CommandFormat)
	}
	return nil
}

// scanCommand checks b along the schema before it is unmarshalled, and
// refuses it if it holds anything EncodeCommand would not write: an unknown
// field, a wrong wire type, a non-repeated field or a oneof given twice, a
// varint out of its field's range, or a repeated field over its limit.
// Unmarshalling what passes allocates in proportion to the limits, and
// re-encoding it yields at most len(b) bytes.
func scanCommand(b []byte) error {
	aclEntries := 0
	return commandSchema.Scan(b, protoscan.Options{
		Element: func(fd protoreflect.FieldDescriptor, n int) error {
			if limit, name := listLimit(fd); n > limit {
				return fmt.Errorf("more than %s (%d) entries", name, limit)
			}
			if fd.Message() != nil && fd.Message().FullName() == "arbor.tree.v1.ACL" {
				aclEntries++
				if aclEntries > MaxCommandACLEntries {
					return fmt.Errorf("more than MaxCommandACLEntries (%d) ACL entries", MaxCommandACLEntries)
				}
			}
			return nil
		},
	})
}

// commandSchema is the Command type's layout for the scanner, compiled
// once; it is never modified.
var commandSchema = protoscan.Compile((*treepb.Command)(nil).ProtoReflect().Descriptor())

// listLimit returns the most entries a repeated field may hold and the name
// of that limit. A repeated field without a limit may not occur at all.
func listLimit(fd protoreflect.FieldDescriptor) (int, string) {
	switch fd.FullName() {
	case "arbor.tree.v1.Command.identities":
		return MaxIdentities, "MaxIdentities"
	case "arbor.tree.v1.Create.acl", "arbor.tree.v1.SetACL.acl":
		return MaxACLEntries, "MaxACLEntries"
	case "arbor.tree.v1.Multi.ops":
		return MaxMultiOps, "MaxMultiOps"
	}
	return 0, "no limit declared"
}

func fromProto(pc *treepb.Command) (*Command, error) {
	c := &Command{
		ID:            RequestID{Member: pc.RequestMember, Seq: pc.RequestSeq},
		Session:       pc.Session,
		TimeMs:        pc.TimeMs,
		System:        pc.System,
		Seq:           pc.WriteSeq,
		LowestUnacked: pc.LowestUnacked,
	}
	if len(pc.Identities) > 0 {
		c.Identities = make([]Identity, len(pc.Identities))
		for i, id := range pc.Identities {
			c.Identities[i] = Identity{Scheme: id.Scheme, ID: id.Id}
		}
	}
	switch op := pc.Op.(type) {
	case nil:
		return nil, errors.New("no op")
	case *treepb.Command_Create:
		create, err := fromCreate(op.Create)
		if err != nil {
			return nil, err
		}
		c.Op = create
	case *treepb.Command_Delete:
		c.Op = &Delete{Path: op.Delete.Path, Version: op.Delete.Version}
	case *treepb.Command_SetData:
		c.Op = fromSetData(op.SetData)
	case *treepb.Command_Check:
		c.Op = &Check{Path: op.Check.Path, Version: op.Check.Version}
	case *treepb.Command_SetAcl:
		c.Op = &SetACL{Path: op.SetAcl.Path, ACL: fromACL(op.SetAcl.Acl), Version: op.SetAcl.Version}
	case *treepb.Command_Multi:
		m := &Multi{}
		if len(op.Multi.Ops) > 0 {
			m.Ops = make([]Op, len(op.Multi.Ops))
		}
		for i, sub := range op.Multi.Ops {
			var err error
			if m.Ops[i], err = fromMultiOp(sub); err != nil {
				return nil, fmt.Errorf("multi: ops[%d]: %w", i, err)
			}
		}
		c.Op = m
	case *treepb.Command_CreateSession:
		cs := op.CreateSession
		c.Op = &CreateSession{ID: cs.Id, TimeoutMs: cs.TimeoutMs, PasswordDigest: nilIfEmpty(cs.PasswordDigest)}
	case *treepb.Command_CloseSession:
		c.Op = &CloseSession{ID: op.CloseSession.Id, Expired: op.CloseSession.Expired}
	case *treepb.Command_Reap:
		c.Op = &Reap{Path: op.Reap.Path}
	default:
		return nil, fmt.Errorf("op type %T unknown to this build", op)
	}
	return c, nil
}

func fromMultiOp(sub *treepb.MultiOp) (Op, error) {
	switch op := sub.Op.(type) {
	case *treepb.MultiOp_Create:
		return fromCreate(op.Create)
	case *treepb.MultiOp_Delete:
		return &Delete{Path: op.Delete.Path, Version: op.Delete.Version}, nil
	case *treepb.MultiOp_SetData:
		return fromSetData(op.SetData), nil
	case *treepb.MultiOp_Check:
		return &Check{Path: op.Check.Path, Version: op.Check.Version}, nil
	case nil:
		return nil, errors.New("no op")
	}
	return nil, fmt.Errorf("op type %T unknown to this build", sub.Op)
}

func fromCreate(pc *treepb.Create) (*Create, error) {
	// The scanner has bounded the value to an int32; Mode is a uint8.
	if m := int32(pc.Mode); m < 0 || m > math.MaxUint8 || !Mode(m).Valid() {
		return nil, fmt.Errorf("create: invalid mode %d", m)
	}
	return &Create{
		Path:    pc.Path,
		Data:    nilIfEmpty(pc.Data),
		ACL:     fromACL(pc.Acl),
		Mode:    Mode(pc.Mode),
		TTLMs:   pc.TtlMs,
		Parents: pc.Parents,
	}, nil
}

func fromSetData(ps *treepb.SetData) *SetData {
	return &SetData{Path: ps.Path, Data: nilIfEmpty(ps.Data), Version: ps.Version}
}

func fromACL(pacl []*treepb.ACL) []ACL {
	if len(pacl) == 0 {
		return nil
	}
	acl := make([]ACL, len(pacl))
	for i, a := range pacl {
		acl[i] = ACL{Perms: Perm(a.Perms), Scheme: a.Scheme, ID: a.Id}
	}
	return acl
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
