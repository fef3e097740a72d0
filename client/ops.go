package client

import (
	"context"
	"errors"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// CreateOption configures Create and CreateOp.
type CreateOption func(*createOptions)

type createOptions struct{ c *wire.Create }

// WithMode sets the create mode (default ModePersistent).
func WithMode(m Mode) CreateOption {
	return func(o *createOptions) { o.c.Mode = wire.CreateMode(m) }
}

// WithACL sets the new node's ACL (default WorldACL(PermAll)).
func WithACL(acl ...ACL) CreateOption {
	return func(o *createOptions) { o.c.Acl = aclToWire(acl) }
}

// WithTTL sets the TTL of a node created in a TTL mode (1ms to 2^40-1 ms).
func WithTTL(d time.Duration) CreateOption {
	return func(o *createOptions) { o.c.TtlMs = d.Milliseconds() }
}

// WithParents creates missing ancestors as persistent nodes with the same
// ACL, as mkdir -p would.
func WithParents() CreateOption { return func(o *createOptions) { o.c.Parents = true } }

func badArgs(op, path, reason string) error {
	return &Error{Op: op, Path: path, Code: errcode.BadArguments, Reason: reason}
}

func buildCreate(path string, data []byte, opts []CreateOption) (*wire.Create, error) {
	cr := &wire.Create{Path: path, Data: data, Acl: aclToWire(WorldACL(PermAll))}
	for _, o := range opts {
		o(&createOptions{cr})
	}
	mode := Mode(cr.Mode)
	if mode < ModePersistent || mode > ModePersistentSequentialTTL {
		return nil, badArgs("create", path, "unknown mode")
	}
	if mode.sequential() {
		if err := zpath.ValidateSequential(path); err != nil {
			return nil, badArgs("create", path, err.Error())
		}
	} else if err := checkPath("create", path); err != nil {
		return nil, err
	}
	if mode.ttl() != (cr.TtlMs != 0) || cr.TtlMs < 0 || cr.TtlMs >= 1<<40 {
		return nil, badArgs("create", path, "a TTL (1ms to 2^40-1 ms) is required by the TTL modes and refused by the others")
	}
	if len(cr.Acl) == 0 {
		return nil, &Error{Op: "create", Path: path, Code: errcode.InvalidACL, Reason: "empty ACL"}
	}
	return cr, nil
}

// Create creates a node with data and returns its path (with the sequence
// suffix of a sequential mode). Retried across reconnects, it is applied
// exactly once: a sequential create is never duplicated.
func (c *Client) Create(ctx context.Context, path string, data []byte, opts ...CreateOption) (string, error) {
	cr, err := buildCreate(path, data, opts)
	if err != nil {
		return "", err
	}
	resp, err := c.do(ctx, &call{op: "create", path: path, req: &wire.Request{Op: &wire.Request_Create{Create: cr}}})
	if err != nil {
		return "", err
	}
	return resp.GetCreate().GetPath(), nil
}

// Delete deletes the node at path if its version is version (-1: any).
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	if err := checkPath("delete", path); err != nil {
		return err
	}
	_, err := c.do(ctx, &call{op: "delete", path: path, req: &wire.Request{Op: &wire.Request_Delete{Delete: &wire.Delete{Path: path, Version: version}}}})
	return err
}

// Set replaces the node's data if its version is version (-1: any) and
// returns the new Stat.
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (Stat, error) {
	if err := checkPath("set", path); err != nil {
		return Stat{}, err
	}
	resp, err := c.do(ctx, &call{op: "set", path: path, req: &wire.Request{Op: &wire.Request_SetData{SetData: &wire.SetData{Path: path, Data: data, Version: version}}}})
	if err != nil {
		return Stat{}, err
	}
	return statFromWire(resp.GetStat().GetStat()), nil
}

// Get returns the node's data and Stat.
func (c *Client) Get(ctx context.Context, path string) ([]byte, Stat, error) {
	data, st, _, err := c.get(ctx, path, false)
	return data, st, err
}

// GetW is Get that also sets a one-shot watch on the node's data: the
// channel receives NodeDataChanged or NodeDeleted once, then is closed. No
// watch is set if the read fails.
func (c *Client) GetW(ctx context.Context, path string) ([]byte, Stat, <-chan Event, error) {
	return c.get(ctx, path, true)
}

func (c *Client) get(ctx context.Context, path string, watch bool) ([]byte, Stat, <-chan Event, error) {
	if err := checkPath("get", path); err != nil {
		return nil, Stat{}, nil, err
	}
	cl := &call{op: "get", path: path, req: &wire.Request{Op: &wire.Request_GetData{GetData: &wire.GetData{Path: path, Watch: watch}}}}
	if watch {
		cl.watch, cl.watchKnd = make(chan Event, 1), wire.WatchKind_WATCH_KIND_DATA
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, Stat{}, nil, err
	}
	if code := errcode.Code(resp.Code); code != errcode.Ok {
		return nil, Stat{}, nil, &Error{Op: "get", Path: path, Code: code}
	}
	r := resp.GetGetData()
	return r.GetData(), statFromWire(r.GetStat()), cl.watch, nil
}

// Exists returns the node's Stat, or an error matching ErrNoNode if there
// is no node at path.
func (c *Client) Exists(ctx context.Context, path string) (Stat, error) {
	st, _, err := c.exists(ctx, path, false)
	return st, err
}

// ExistsW is Exists that also sets a one-shot watch: on the node's data
// (NodeDataChanged, NodeDeleted) if it exists, on its creation
// (NodeCreated) if not. The watch is set, and the channel returned, in both
// cases: the error then matches ErrNoNode.
func (c *Client) ExistsW(ctx context.Context, path string) (Stat, <-chan Event, error) {
	return c.exists(ctx, path, true)
}

func (c *Client) exists(ctx context.Context, path string, watch bool) (Stat, <-chan Event, error) {
	if err := checkPath("exists", path); err != nil {
		return Stat{}, nil, err
	}
	cl := &call{op: "exists", path: path, req: &wire.Request{Op: &wire.Request_Exists{Exists: &wire.Exists{Path: path, Watch: watch}}}}
	if watch {
		cl.watch, cl.watchKnd = make(chan Event, 1), wire.WatchKind_WATCH_KIND_DATA
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return Stat{}, nil, err
	}
	switch code := errcode.Code(resp.Code); code {
	case errcode.Ok:
		return statFromWire(resp.GetStat().GetStat()), cl.watch, nil
	case errcode.NoNode:
		return Stat{}, cl.watch, &Error{Op: "exists", Path: path, Code: code}
	default:
		return Stat{}, nil, &Error{Op: "exists", Path: path, Code: code}
	}
}

// Children returns the names (not paths) of the node's children, sorted
// bytewise, and its Stat.
func (c *Client) Children(ctx context.Context, path string) ([]string, Stat, error) {
	names, st, _, err := c.children(ctx, path, false)
	return names, st, err
}

// ChildrenW is Children that also sets a one-shot watch: the channel
// receives NodeChildrenChanged or NodeDeleted once, then is closed.
func (c *Client) ChildrenW(ctx context.Context, path string) ([]string, Stat, <-chan Event, error) {
	return c.children(ctx, path, true)
}

func (c *Client) children(ctx context.Context, path string, watch bool) ([]string, Stat, <-chan Event, error) {
	if err := checkPath("children", path); err != nil {
		return nil, Stat{}, nil, err
	}
	cl := &call{op: "children", path: path, req: &wire.Request{Op: &wire.Request_GetChildren{GetChildren: &wire.GetChildren{Path: path, Watch: watch}}}}
	if watch {
		cl.watch, cl.watchKnd = make(chan Event, 1), wire.WatchKind_WATCH_KIND_CHILDREN
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, Stat{}, nil, err
	}
	if code := errcode.Code(resp.Code); code != errcode.Ok {
		return nil, Stat{}, nil, &Error{Op: "children", Path: path, Code: code}
	}
	r := resp.GetGetChildren()
	return r.GetChildren(), statFromWire(r.GetStat()), cl.watch, nil
}

// Sync waits until the connected member has caught up with the leader's
// commit point: reads sent after it returns see every write acknowledged
// before it was called. The path is for ZooKeeper compatibility; a sync
// covers the whole tree.
func (c *Client) Sync(ctx context.Context, path string) error {
	if err := checkPath("sync", path); err != nil {
		return err
	}
	_, err := c.do(ctx, &call{op: "sync", path: path, req: &wire.Request{Op: &wire.Request_Sync{Sync: &wire.Sync{Path: path}}}})
	return err
}

// GetACL returns the node's ACL and Stat.
func (c *Client) GetACL(ctx context.Context, path string) ([]ACL, Stat, error) {
	if err := checkPath("getacl", path); err != nil {
		return nil, Stat{}, err
	}
	resp, err := c.do(ctx, &call{op: "getacl", path: path, req: &wire.Request{Op: &wire.Request_GetAcl{GetAcl: &wire.GetACL{Path: path}}}})
	if err != nil {
		return nil, Stat{}, err
	}
	r := resp.GetGetAcl()
	return aclFromWire(r.GetAcl()), statFromWire(r.GetStat()), nil
}

// SetACL replaces the node's ACL if its aversion is version (-1: any) and
// returns the new Stat.
func (c *Client) SetACL(ctx context.Context, path string, acl []ACL, version int32) (Stat, error) {
	if err := checkPath("setacl", path); err != nil {
		return Stat{}, err
	}
	if len(acl) == 0 {
		return Stat{}, &Error{Op: "setacl", Path: path, Code: errcode.InvalidACL, Reason: "empty ACL"}
	}
	resp, err := c.do(ctx, &call{op: "setacl", path: path, req: &wire.Request{Op: &wire.Request_SetAcl{SetAcl: &wire.SetACL{Path: path, Acl: aclToWire(acl), Version: version}}}})
	if err != nil {
		return Stat{}, err
	}
	return statFromWire(resp.GetStat().GetStat()), nil
}

// CountDescendants returns the number of nodes below path, not counting
// path itself.
func (c *Client) CountDescendants(ctx context.Context, path string) (int64, error) {
	if err := checkPath("countdescendants", path); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, &call{op: "countdescendants", path: path, req: &wire.Request{Op: &wire.Request_CountDescendants{CountDescendants: &wire.CountDescendants{Path: path}}}})
	if err != nil {
		return 0, err
	}
	return resp.GetCountDescendants().GetCount(), nil
}

// GetEphemerals returns the paths of this session's ephemeral nodes that
// begin with prefix, sorted bytewise. As in ZooKeeper the prefix is a plain
// string prefix ("/app/job-" matches "/app/job-0001") and must be a valid
// path; "/" lists them all.
func (c *Client) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPath("getephemerals", prefix); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &call{op: "getephemerals", path: prefix, req: &wire.Request{Op: &wire.Request_GetEphemerals{GetEphemerals: &wire.GetEphemerals{PathPrefix: prefix}}}})
	if err != nil {
		return nil, err
	}
	return resp.GetGetEphemerals().GetPaths(), nil
}

// AddAuth adds an identity to the session ("digest" scheme: auth is
// "user:password"); a refused one matches ErrAuthFailed. The client resends
// its identities when it resumes the session on another connection.
func (c *Client) AddAuth(ctx context.Context, scheme string, auth []byte) error {
	auth = append([]byte(nil), auth...)
	_, err := c.do(ctx, &call{op: "addauth", req: &wire.Request{Op: &wire.Request_AddAuth{AddAuth: &wire.AddAuth{Scheme: scheme, Auth: auth}}}})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.auth = append(c.auth, authInfo{scheme, auth})
	c.mu.Unlock()
	return nil
}

// Op is one operation of a Multi, made by CreateOp, DeleteOp, SetOp or
// CheckOp.
type Op struct {
	path string
	op   *wire.MultiOp
	err  error
}

// CreateOp is a create in a Multi.
func CreateOp(path string, data []byte, opts ...CreateOption) Op {
	cr, err := buildCreate(path, data, opts)
	return Op{path: path, op: &wire.MultiOp{Op: &wire.MultiOp_Create{Create: cr}}, err: err}
}

// DeleteOp is a delete in a Multi.
func DeleteOp(path string, version int32) Op {
	return Op{path: path, op: &wire.MultiOp{Op: &wire.MultiOp_Delete{Delete: &wire.Delete{Path: path, Version: version}}}, err: checkPath("delete", path)}
}

// SetOp is a data change in a Multi.
func SetOp(path string, data []byte, version int32) Op {
	return Op{path: path, op: &wire.MultiOp{Op: &wire.MultiOp_SetData{SetData: &wire.SetData{Path: path, Data: data, Version: version}}}, err: checkPath("set", path)}
}

// CheckOp asserts in a Multi that the node's version is version (-1: that
// it exists).
func CheckOp(path string, version int32) Op {
	return Op{path: path, op: &wire.MultiOp{Op: &wire.MultiOp_Check{Check: &wire.Check{Path: path, Version: version}}}, err: checkPath("check", path)}
}

// OpResult is the outcome of one op of a Multi.
type OpResult struct {
	// Path is the created path, for a create.
	Path string
	// Stat is the node's new Stat, for a create or a set.
	Stat Stat
	// Err is nil if the op succeeded (or, when the multi failed, would
	// have: it was rolled back), the op's error if it failed, and
	// ErrRuntimeInconsistency if it was not tried.
	Err error
}

// refusedMulti is the outcome of a Multi whose op i the client refused
// before sending anything (a bad path, an empty ACL): as if the member had
// refused it, op i's error with Op "multi", and every other op not tried.
func refusedMulti(ops []Op, i int, err error) ([]OpResult, error) {
	e := &Error{Op: "multi", Path: ops[i].path, Code: errcode.BadArguments}
	var opErr *Error
	if errors.As(err, &opErr) {
		e.Code, e.Reason = opErr.Code, opErr.Reason
	}
	out := make([]OpResult, len(ops))
	for j := range out {
		out[j].Err = &Error{Op: "multi", Path: ops[j].path, Code: errcode.RuntimeInconsistency}
	}
	out[i].Err = e
	return out, e
}

// Multi applies ops atomically, all or none, and returns one result per op.
// If one fails, the error is that op's *Error (Op "multi", the op's path)
// and the results say which one it was. A Multi of no ops sends nothing.
func (c *Client) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	m := &wire.Multi{Ops: make([]*wire.MultiOp, len(ops))}
	for i, o := range ops {
		err := o.err
		if err == nil && o.op == nil {
			err = badArgs("multi", "", "zero Op")
		}
		if err != nil {
			return refusedMulti(ops, i, err)
		}
		m.Ops[i] = o.op
	}
	if len(ops) == 0 {
		return nil, nil
	}
	resp, err := c.do(ctx, &call{op: "multi", req: &wire.Request{Op: &wire.Request_Multi{Multi: m}}})
	if err != nil {
		return nil, err
	}
	rs := resp.GetMulti().GetResults()
	code := errcode.Code(resp.Code)
	if len(rs) != len(ops) {
		if code != errcode.Ok {
			return nil, &Error{Op: "multi", Code: code}
		}
		return nil, &Error{Op: "multi", Code: errcode.MarshallingError, Reason: "result count differs from op count"}
	}
	out := make([]OpResult, len(ops))
	var first error
	for i, r := range rs {
		out[i] = OpResult{Path: r.Path, Stat: statFromWire(r.Stat)}
		if rc := errcode.Code(r.Code); rc != errcode.Ok {
			out[i].Err = &Error{Op: "multi", Path: ops[i].path, Code: rc}
			if first == nil && rc != errcode.RuntimeInconsistency {
				first = out[i].Err
			}
		}
	}
	if code != errcode.Ok {
		if first == nil {
			first = &Error{Op: "multi", Code: code}
		}
		return out, first
	}
	return out, nil
}

// ReadOp is one read of a ReadMulti, made by GetOp, ChildrenOp or ExistsOp.
type ReadOp struct {
	op  *wire.ReadOp
	err error
}

// GetOp reads a node's data and Stat in a ReadMulti.
func GetOp(path string) ReadOp {
	return ReadOp{op: &wire.ReadOp{Kind: wire.ReadKind_READ_KIND_GET_DATA, Path: path}, err: checkPath("get", path)}
}

// ChildrenOp lists a node's children in a ReadMulti.
func ChildrenOp(path string) ReadOp {
	return ReadOp{op: &wire.ReadOp{Kind: wire.ReadKind_READ_KIND_GET_CHILDREN, Path: path}, err: checkPath("children", path)}
}

// ExistsOp reads a node's Stat in a ReadMulti.
func ExistsOp(path string) ReadOp {
	return ReadOp{op: &wire.ReadOp{Kind: wire.ReadKind_READ_KIND_EXISTS, Path: path}, err: checkPath("exists", path)}
}

// ReadResult is the outcome of one read of a ReadMulti.
type ReadResult struct {
	// Data is the node's data, for a GetOp.
	Data []byte
	// Children are the names of the node's children, sorted bytewise, for
	// a ChildrenOp.
	Children []string
	// Stat is the node's Stat.
	Stat Stat
	// Err is nil if the read succeeded, else its *Error (Op "readmulti",
	// the read's path): ErrNoNode for a missing node, for instance.
	Err error
}

// ReadMulti runs reads against one state of the tree (one zxid) and returns
// one result per read. Each read succeeds or fails on its own, in its
// ReadResult.Err; the error returned is for the request as a whole (a
// context ended, the session ended). It sets no watches. A ReadMulti of no
// reads sends nothing.
func (c *Client) ReadMulti(ctx context.Context, ops ...ReadOp) ([]ReadResult, error) {
	m := &wire.ReadMulti{Ops: make([]*wire.ReadOp, len(ops))}
	for i, o := range ops {
		if o.err != nil {
			return nil, o.err
		}
		if o.op == nil {
			return nil, badArgs("readmulti", "", "zero ReadOp")
		}
		m.Ops[i] = o.op
	}
	if len(ops) == 0 {
		return nil, nil
	}
	resp, err := c.do(ctx, &call{op: "readmulti", req: &wire.Request{Op: &wire.Request_ReadMulti{ReadMulti: m}}})
	if err != nil {
		return nil, err
	}
	rs := resp.GetReadMulti().GetResults()
	if len(rs) != len(ops) {
		return nil, &Error{Op: "readmulti", Code: errcode.MarshallingError, Reason: "result count differs from read count"}
	}
	out := make([]ReadResult, len(ops))
	for i, r := range rs {
		if rc := errcode.Code(r.Code); rc != errcode.Ok {
			out[i].Err = &Error{Op: "readmulti", Path: ops[i].op.Path, Code: rc}
			continue
		}
		out[i] = ReadResult{Data: r.Data, Children: r.Children, Stat: statFromWire(r.Stat)}
	}
	return out, nil
}
