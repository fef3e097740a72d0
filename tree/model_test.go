package tree

// This file holds model, a deliberately naive in-memory reference
// implementation of Tree written from the specification in types.go (and
// the clarifications recorded below), independently of the Pebble-backed
// store. oracle_test.go drives both with the same random commands and
// requires identical results.
//
// The model favours being obviously right over being fast: nodes live in one
// map keyed by full path, children are found by scanning that map, a Multi
// snapshots the whole map and restores it on failure, and every op checks all
// of its preconditions, in the documented order, before it changes anything.
//
// Choices made where the specification leaves room (ZooKeeper's behaviour
// where it has one):
//
//   - Cversion is reported as creations + deletions (2*creations -
//     NumChildren); the sequence suffix is the creation count. The root
//     starts with one creation (/arbor), so its first sequential child is
//     numbered 1.
//   - Create "/" (not sequential) is NodeExists, after the argument and ACL
//     checks. A sequential prefix is judged by prefix+"0": "/arbor/" is
//     reserved, "/arbor" is not (it makes "/arbor0000000001" under "/").
//   - System lifts the /arbor restriction and passes every ACL check, as a
//     super identity does (types.go, Command.System). Reap checks no ACL,
//     like ZooKeeper's container manager.
//   - Reap's precedence: NoAuth (not System), BadArguments (bad path), NoNode,
//     BadArguments (not a container or TTL node), NotEmpty, BadVersion.
//   - A Multi runs its ops in order; an op of a type a Multi may not hold
//     fails when it is reached, so an earlier failing op takes precedence.
//     A modelFailed Multi reports bare codes: Ok (no Path or Stat) for the ops
//     before the failing one. A successful op's Stat is the node's Stat right
//     after that op. A Multi stopped before it started (SessionExpired) has
//     no Ops.
//   - The ACL limit (1024) applies after "auth" expansion and de-duplication.
//   - CreateSession may reuse the ID of a closed session ("in use" means
//     open).
//   - Reads: BadArguments, then NoNode, then NoAuth (ZooKeeper looks the node
//     up before checking its ACL). CountDescendants counts the nodes strictly
//     below the path. Children returns names. Ephemerals of an unknown
//     session is an empty list, not an error. ReadMulti answers each read on
//     its own, with an unknown ReadKind as BadArguments.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// modelDefaultMaxDataBytes is the data limit used when Options.MaxDataBytes
// is 0.
const modelDefaultMaxDataBytes = 1 << 20

// modelMaxACLEntries is the largest ACL accepted after expansion.
const modelMaxACLEntries = 1024

// model is the reference tree. It is not safe for concurrent use.
type model struct {
	maxDataBytes int
	applied      uint64
	nodes        map[string]modelNode
	sessions     map[int64]Session
	// results are the recorded write results of each open session, by seq
	// (exactly-once writes).
	results map[int64]map[uint64]Result
}

// modelNode is a node, stored by value so that a map copy is a snapshot: no
// slice in it is ever modified in place, only replaced.
type modelNode struct {
	data      []byte // nil when empty
	acl       []ACL
	stat      Stat  // Cversion and DataLength are derived in reported
	creations int32 // children ever created: the sequence counter
	mode      Mode
	ttlMs     int64
}

func newModel(maxDataBytes int) *model {
	if maxDataBytes == 0 {
		maxDataBytes = modelDefaultMaxDataBytes
	}
	m := &model{
		maxDataBytes: maxDataBytes,
		nodes:        map[string]modelNode{},
		sessions:     map[int64]Session{},
		results:      map[int64]map[uint64]Result{},
	}
	m.nodes["/"] = modelNode{acl: OpenACL(), stat: Stat{NumChildren: 1}, creations: 1}
	m.nodes[zpath.Reserved] = modelNode{acl: ReadACL()}
	return m
}

// reported is the Stat as clients see it.
func (n modelNode) reported() Stat {
	s := n.stat
	s.Cversion = 2*n.creations - s.NumChildren
	s.DataLength = int32(len(n.data))
	return s
}

func modelFailed(code errcode.Code) (OpResult, []Event) { return OpResult{Code: code}, nil }

// apply applies one entry, as Tree.Apply does for each of its entries.
func (m *model) apply(e Entry) Result {
	if e.Index != m.applied+1 {
		panic(fmt.Sprintf("model: entry index %d after %d", e.Index, m.applied))
	}
	m.applied = e.Index
	res := Result{Index: e.Index}
	c := e.Cmd
	if c == nil {
		return res
	}
	res.ID = c.ID
	zxid := int64(e.Index)
	if c.System { // arbor itself: passes every ACL check
		sys := *c
		sys.Identities = append(slices.Clone(c.Identities), Identity{SchemeSuper, "system"})
		c = &sys
	}
	if _, ok := c.Op.(*CreateSession); !ok && c.Session != 0 {
		if _, open := m.sessions[c.Session]; !open {
			res.Code = errcode.SessionExpired
			return res
		}
	}
	if c.Seq != 0 || c.LowestUnacked != 0 {
		if m.once(c, &res) {
			return res
		}
	}
	m.applyOp(c, zxid, &res)
	if c.Seq != 0 {
		if m.results[c.Session] == nil {
			m.results[c.Session] = map[uint64]Result{}
		}
		m.results[c.Session][c.Seq] = Result{OpResult: res.OpResult, Ops: slices.Clone(res.Ops)}
		m.acknowledge(c.Session, c.LowestUnacked)
	}
	return res
}

// once checks an exactly-once write and answers a retry from the record;
// it reports whether res is final.
func (m *model) once(c *Command, res *Result) bool {
	switch c.Op.(type) {
	case *Create, *Delete, *SetData, *Check, *SetACL, *Multi:
	default:
		res.Code = errcode.BadArguments
		return true
	}
	if c.Session == 0 || c.Seq == 0 || c.LowestUnacked == 0 || c.LowestUnacked > c.Seq {
		res.Code = errcode.BadArguments
		return true
	}
	s := m.sessions[c.Session]
	if c.Seq < s.LowestUnacked {
		res.Code = errcode.BadArguments
		return true
	}
	if r, ok := m.results[c.Session][c.Seq]; ok {
		res.OpResult, res.Ops = r.OpResult, slices.Clone(r.Ops)
		m.acknowledge(c.Session, c.LowestUnacked)
		return true
	}
	if c.Seq-max(s.LowestUnacked, c.LowestUnacked) >= MaxUnackedWrites {
		res.Code = errcode.Throttled
		return true
	}
	return false
}

// acknowledge raises the session's watermark and forgets results below it.
func (m *model) acknowledge(id int64, low uint64) {
	s := m.sessions[id]
	if low <= s.LowestUnacked {
		return
	}
	s.LowestUnacked = low
	m.sessions[id] = s
	for seq := range m.results[id] {
		if seq < low {
			delete(m.results[id], seq)
		}
	}
}

// applyOp applies the command's op.
func (m *model) applyOp(c *Command, zxid int64, res *Result) {
	switch op := c.Op.(type) {
	case *Multi:
		res.Code, res.Ops, res.Events = m.multi(c, op, zxid)
	case *CreateSession:
		res.Code = m.createSession(op)
	case *CloseSession:
		res.Code, res.Events = m.closeSession(op, zxid)
	case *Reap:
		res.Code, res.Events = m.reap(c, op, zxid)
	case *SetACL:
		res.OpResult, res.Events = m.setACL(c, op)
	default:
		res.OpResult, res.Events = m.multiOp(c, op, zxid)
	}
}

// multiOp applies one of the ops a Multi may hold; any other is
// BadArguments.
func (m *model) multiOp(c *Command, op Op, zxid int64) (OpResult, []Event) {
	switch op := op.(type) {
	case *Create:
		return m.create(c, op, zxid)
	case *Delete:
		return m.delete(c, op, zxid)
	case *SetData:
		return m.setData(c, op, zxid)
	case *Check:
		return m.check(c, op)
	}
	return modelFailed(errcode.BadArguments)
}

func (m *model) multi(c *Command, op *Multi, zxid int64) (errcode.Code, []OpResult, []Event) {
	snapshot := maps.Clone(m.nodes)
	results := make([]OpResult, len(op.Ops))
	var events []Event
	for i, sub := range op.Ops {
		r, ev := m.multiOp(c, sub, zxid)
		if r.Code != errcode.Ok {
			m.nodes = snapshot
			for j := range results {
				switch {
				case j < i:
					results[j] = OpResult{Code: errcode.Ok}
				case j == i:
					results[j] = OpResult{Code: r.Code}
				default:
					results[j] = OpResult{Code: errcode.RuntimeInconsistency}
				}
			}
			return r.Code, results, nil
		}
		results[i] = r
		events = append(events, ev...)
	}
	return errcode.Ok, results, events
}

// modelExpandACL validates an ACL given to create or setACL and returns it as
// stored: "auth" replaced by the caller's digest identities, duplicates
// removed.
func modelExpandACL(in []ACL, ids []Identity) ([]ACL, errcode.Code) {
	if len(in) == 0 {
		return nil, errcode.InvalidACL
	}
	var out []ACL
	for _, e := range in {
		if e.Perms < 1 || e.Perms > PermAll {
			return nil, errcode.InvalidACL
		}
		switch e.Scheme {
		case SchemeWorld:
			if e.ID != "anyone" {
				return nil, errcode.InvalidACL
			}
			out = append(out, e)
		case SchemeDigest:
			user, pass, ok := strings.Cut(e.ID, ":")
			if !ok || user == "" || pass == "" || strings.Contains(pass, ":") {
				return nil, errcode.InvalidACL
			}
			out = append(out, e)
		case SchemeAuth:
			found := false
			for _, id := range ids {
				if id.Scheme == SchemeDigest {
					out = append(out, ACL{e.Perms, SchemeDigest, id.ID})
					found = true
				}
			}
			if !found {
				return nil, errcode.InvalidACL
			}
		default:
			return nil, errcode.InvalidACL
		}
	}
	var unique []ACL
	seen := map[ACL]bool{}
	for _, e := range out {
		if !seen[e] {
			seen[e] = true
			unique = append(unique, e)
		}
	}
	if len(unique) > modelMaxACLEntries {
		return nil, errcode.InvalidACL
	}
	return unique, errcode.Ok
}

// modelPermitted reports whether a caller with identities ids holds perm on a
// node with ACL acl.
func modelPermitted(acl []ACL, ids []Identity, perm Perm) bool {
	for _, id := range ids {
		if id.Scheme == SchemeSuper {
			return true
		}
	}
	for _, e := range acl {
		if e.Perms&perm == 0 {
			continue
		}
		if e.Scheme == SchemeWorld && e.ID == "anyone" {
			return true
		}
		if e.Scheme == SchemeDigest {
			for _, id := range ids {
				if id.Scheme == SchemeDigest && id.ID == e.ID {
					return true
				}
			}
		}
	}
	return false
}

// modelStoredData is how data is kept: copied, and nil when empty.
func modelStoredData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

// addNode inserts a node under its (existing) parent and returns the
// events.
func (m *model) addNode(p string, n modelNode, zxid int64) []Event {
	pp := zpath.Parent(p)
	parent, ok := m.nodes[pp]
	if !ok {
		panic("model: addNode without parent: " + p)
	}
	parent.stat.Pzxid = zxid
	parent.stat.NumChildren++
	parent.creations++
	m.nodes[pp] = parent
	m.nodes[p] = n
	return []Event{
		{Type: NodeCreated, Path: p, Zxid: zxid, ACL: n.acl},
		{Type: NodeChildrenChanged, Path: pp, Zxid: zxid, ACL: parent.acl},
	}
}

// removeNode deletes a (childless) node and returns the events.
func (m *model) removeNode(p string, zxid int64) []Event {
	n, ok := m.nodes[p]
	if !ok || n.stat.NumChildren != 0 {
		panic("model: removeNode of a missing or non-empty node: " + p)
	}
	delete(m.nodes, p)
	pp := zpath.Parent(p)
	parent := m.nodes[pp]
	parent.stat.Pzxid = zxid
	parent.stat.NumChildren--
	m.nodes[pp] = parent
	return []Event{
		{Type: NodeDeleted, Path: p, Zxid: zxid, ACL: n.acl},
		{Type: NodeChildrenChanged, Path: pp, Zxid: zxid, ACL: parent.acl},
	}
}

func newModelNode(data []byte, acl []ACL, mode Mode, ttlMs, owner, zxid, timeMs int64) modelNode {
	return modelNode{
		data: data,
		acl:  acl,
		stat: Stat{
			Czxid: zxid, Mzxid: zxid, Pzxid: zxid,
			Ctime: timeMs, Mtime: timeMs,
			EphemeralOwner: owner,
		},
		mode:  mode,
		ttlMs: ttlMs,
	}
}

func (m *model) create(c *Command, op *Create, zxid int64) (OpResult, []Event) {
	seq := op.Mode.Valid() && op.Mode.IsSequential()
	// probe is a path with the same parent and reservedness as the final
	// one.
	probe := op.Path
	var perr error
	if seq {
		perr = zpath.ValidateSequential(op.Path)
		probe = op.Path + "0"
	} else {
		perr = zpath.Validate(op.Path)
	}
	switch {
	case perr != nil, len(op.Data) > m.maxDataBytes, !op.Mode.Valid():
		return modelFailed(errcode.BadArguments)
	case op.Mode.IsTTL() && (op.TTLMs <= 0 || op.TTLMs > MaxTTLMs):
		return modelFailed(errcode.BadArguments)
	case !op.Mode.IsTTL() && op.TTLMs != 0:
		return modelFailed(errcode.BadArguments)
	case op.Mode.IsEphemeral() && c.Session == 0:
		return modelFailed(errcode.BadArguments)
	}
	acl, code := modelExpandACL(op.ACL, c.Identities)
	if code != errcode.Ok {
		return modelFailed(code)
	}
	if !c.System && zpath.IsReserved(probe) {
		return modelFailed(errcode.NoAuth)
	}
	if probe == "/" {
		return modelFailed(errcode.NodeExists)
	}
	parentPath := zpath.Parent(probe)
	// missing lists the ancestors to create, top-down; anchor is the deepest
	// existing ancestor, on which CREATE is checked.
	var missing []string
	anchor := parentPath
	for {
		if _, ok := m.nodes[anchor]; ok {
			break
		}
		if !op.Parents {
			return modelFailed(errcode.NoNode)
		}
		missing = append([]string{anchor}, missing...)
		anchor = zpath.Parent(anchor)
	}
	anchorNode := m.nodes[anchor]
	if !modelPermitted(anchorNode.acl, c.Identities, PermCreate) {
		return modelFailed(errcode.NoAuth)
	}
	path := op.Path
	if seq {
		var counter int32 // a parent created here has had no children yet
		if len(missing) == 0 {
			counter = anchorNode.creations
		}
		path = zpath.Sequential(op.Path, counter)
	}
	if _, exists := m.nodes[path]; exists {
		return modelFailed(errcode.NodeExists)
	}
	if anchorNode.mode.IsEphemeral() {
		return modelFailed(errcode.NoChildrenForEphemerals)
	}
	var events []Event
	for _, a := range missing {
		events = append(events, m.addNode(a, newModelNode(nil, acl, Persistent, 0, 0, zxid, c.TimeMs), zxid)...)
	}
	var owner int64
	if op.Mode.IsEphemeral() {
		owner = c.Session
	}
	n := newModelNode(modelStoredData(op.Data), acl, op.Mode, op.TTLMs, owner, zxid, c.TimeMs)
	events = append(events, m.addNode(path, n, zxid)...)
	return OpResult{Code: errcode.Ok, Path: path, Stat: m.nodes[path].reported()}, events
}

func (m *model) delete(c *Command, op *Delete, zxid int64) (OpResult, []Event) {
	if zpath.Validate(op.Path) != nil || op.Path == "/" {
		return modelFailed(errcode.BadArguments)
	}
	if !c.System && zpath.IsReserved(op.Path) {
		return modelFailed(errcode.NoAuth)
	}
	n, ok := m.nodes[op.Path]
	if !ok {
		return modelFailed(errcode.NoNode)
	}
	if !modelPermitted(m.nodes[zpath.Parent(op.Path)].acl, c.Identities, PermDelete) {
		return modelFailed(errcode.NoAuth)
	}
	if op.Version != -1 && op.Version != n.stat.Version {
		return modelFailed(errcode.BadVersion)
	}
	if n.stat.NumChildren != 0 {
		return modelFailed(errcode.NotEmpty)
	}
	return OpResult{Code: errcode.Ok}, m.removeNode(op.Path, zxid)
}

func (m *model) setData(c *Command, op *SetData, zxid int64) (OpResult, []Event) {
	if zpath.Validate(op.Path) != nil || len(op.Data) > m.maxDataBytes {
		return modelFailed(errcode.BadArguments)
	}
	if !c.System && zpath.IsReserved(op.Path) {
		return modelFailed(errcode.NoAuth)
	}
	n, ok := m.nodes[op.Path]
	if !ok {
		return modelFailed(errcode.NoNode)
	}
	if !modelPermitted(n.acl, c.Identities, PermWrite) {
		return modelFailed(errcode.NoAuth)
	}
	if op.Version != -1 && op.Version != n.stat.Version {
		return modelFailed(errcode.BadVersion)
	}
	n.data = modelStoredData(op.Data)
	n.stat.Mzxid = zxid
	n.stat.Mtime = c.TimeMs
	n.stat.Version++
	m.nodes[op.Path] = n
	ev := []Event{{Type: NodeDataChanged, Path: op.Path, Zxid: zxid, ACL: n.acl}}
	return OpResult{Code: errcode.Ok, Stat: n.reported()}, ev
}

func (m *model) check(c *Command, op *Check) (OpResult, []Event) {
	if zpath.Validate(op.Path) != nil {
		return modelFailed(errcode.BadArguments)
	}
	n, ok := m.nodes[op.Path]
	if !ok {
		return modelFailed(errcode.NoNode)
	}
	if !modelPermitted(n.acl, c.Identities, PermRead) {
		return modelFailed(errcode.NoAuth)
	}
	if op.Version != -1 && op.Version != n.stat.Version {
		return modelFailed(errcode.BadVersion)
	}
	return OpResult{Code: errcode.Ok}, nil
}

func (m *model) setACL(c *Command, op *SetACL) (OpResult, []Event) {
	if zpath.Validate(op.Path) != nil {
		return modelFailed(errcode.BadArguments)
	}
	acl, code := modelExpandACL(op.ACL, c.Identities)
	if code != errcode.Ok {
		return modelFailed(code)
	}
	if !c.System && zpath.IsReserved(op.Path) {
		return modelFailed(errcode.NoAuth)
	}
	n, ok := m.nodes[op.Path]
	if !ok {
		return modelFailed(errcode.NoNode)
	}
	if !modelPermitted(n.acl, c.Identities, PermAdmin) {
		return modelFailed(errcode.NoAuth)
	}
	if op.Version != -1 && op.Version != n.stat.Aversion {
		return modelFailed(errcode.BadVersion)
	}
	n.acl = acl
	n.stat.Aversion++
	m.nodes[op.Path] = n
	return OpResult{Code: errcode.Ok, Stat: n.reported()}, nil
}

func (m *model) createSession(op *CreateSession) errcode.Code {
	if _, inUse := m.sessions[op.ID]; op.ID == 0 || inUse || op.TimeoutMs <= 0 {
		return errcode.BadArguments
	}
	m.sessions[op.ID] = Session{ID: op.ID, TimeoutMs: op.TimeoutMs, PasswordDigest: slices.Clone(op.PasswordDigest)}
	return errcode.Ok
}

func (m *model) closeSession(op *CloseSession, zxid int64) (errcode.Code, []Event) {
	if _, open := m.sessions[op.ID]; !open {
		return errcode.SessionExpired, nil
	}
	var events []Event
	for _, p := range m.ephemerals(op.ID, "") {
		events = append(events, m.removeNode(p, zxid)...)
	}
	delete(m.sessions, op.ID)
	delete(m.results, op.ID)
	return errcode.Ok, events
}

// candidate reports whether n is a container or TTL node that may be
// reaped at nowMs, children aside.
func (n modelNode) candidate(nowMs int64) bool {
	switch {
	case n.mode == Container:
		return n.creations > 0
	case n.mode.IsTTL():
		return nowMs-n.stat.Mtime > n.ttlMs
	}
	return false
}

func (m *model) reap(c *Command, op *Reap, zxid int64) (errcode.Code, []Event) {
	if !c.System {
		return errcode.NoAuth, nil
	}
	if zpath.Validate(op.Path) != nil {
		return errcode.BadArguments, nil
	}
	n, ok := m.nodes[op.Path]
	switch {
	case !ok:
		return errcode.NoNode, nil
	case n.mode != Container && !n.mode.IsTTL():
		return errcode.BadArguments, nil
	case n.stat.NumChildren != 0:
		return errcode.NotEmpty, nil
	case !n.candidate(c.TimeMs):
		return errcode.BadVersion, nil
	}
	return errcode.Ok, m.removeNode(op.Path, zxid)
}

// The reads, with the same contracts as Tree's.

// lookup finds a node for a read, checking perm unless it is 0.
func (m *model) lookup(path string, ids []Identity, perm Perm) (modelNode, error) {
	if zpath.Validate(path) != nil {
		return modelNode{}, errcode.BadArguments
	}
	n, ok := m.nodes[path]
	if !ok {
		return modelNode{}, errcode.NoNode
	}
	if perm != 0 && !modelPermitted(n.acl, ids, perm) {
		return modelNode{}, errcode.NoAuth
	}
	return n, nil
}

func (m *model) get(path string, ids []Identity) ([]byte, Stat, error) {
	n, err := m.lookup(path, ids, PermRead)
	if err != nil {
		return nil, Stat{}, err
	}
	return n.data, n.reported(), nil
}

func (m *model) exists(path string) (Stat, error) {
	n, err := m.lookup(path, nil, 0)
	if err != nil {
		return Stat{}, err
	}
	return n.reported(), nil
}

// childNames lists the names of path's children, sorted, by scanning every
// node.
func (m *model) childNames(path string) []string {
	var names []string
	for p := range m.nodes {
		if p != "/" && zpath.Parent(p) == path {
			names = append(names, zpath.Base(p))
		}
	}
	slices.Sort(names)
	return names
}

func (m *model) children(path string, ids []Identity) ([]string, Stat, error) {
	n, err := m.lookup(path, ids, PermRead)
	if err != nil {
		return nil, Stat{}, err
	}
	return m.childNames(path), n.reported(), nil
}

func (m *model) getACL(path string, ids []Identity) ([]ACL, Stat, error) {
	n, err := m.lookup(path, nil, 0)
	if err != nil {
		return nil, Stat{}, err
	}
	if !modelPermitted(n.acl, ids, PermRead) && !modelPermitted(n.acl, ids, PermAdmin) {
		return nil, Stat{}, errcode.NoAuth
	}
	return n.acl, n.reported(), nil
}

func (m *model) countDescendants(path string, ids []Identity) (int64, error) {
	if _, err := m.lookup(path, ids, PermRead); err != nil {
		return 0, err
	}
	var count int64
	for p := range m.nodes {
		if p != path && zpath.IsWithin(p, path) {
			count++
		}
	}
	return count, nil
}

func (m *model) ephemerals(session int64, prefix string) []string {
	var paths []string
	for p, n := range m.nodes {
		if n.mode.IsEphemeral() && n.stat.EphemeralOwner == session && strings.HasPrefix(p, prefix) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths
}

func (m *model) readMulti(ops []ReadOp, ids []Identity) []ReadResult {
	out := make([]ReadResult, len(ops))
	for i, op := range ops {
		var err error
		r := &out[i]
		switch op.Kind {
		case ReadGet:
			r.Data, r.Stat, err = m.get(op.Path, ids)
		case ReadChildren:
			r.Children, r.Stat, err = m.children(op.Path, ids)
		case ReadExists:
			r.Stat, err = m.exists(op.Path)
		default:
			err = errcode.BadArguments
		}
		if err != nil {
			*r = ReadResult{Code: err.(errcode.Code)}
		}
	}
	return out
}

func (m *model) session(id int64) (Session, error) {
	s, ok := m.sessions[id]
	if !ok {
		return Session{}, errcode.SessionExpired
	}
	return s, nil
}

func (m *model) sessionList() []Session {
	out := slices.Collect(maps.Values(m.sessions))
	slices.SortFunc(out, func(a, b Session) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func (m *model) deletionCandidates(nowMs int64, limit int) []string {
	var paths []string
	for p, n := range m.nodes {
		if n.stat.NumChildren == 0 && n.candidate(nowMs) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	if len(paths) > limit {
		paths = paths[:limit]
	}
	return paths
}

// checkInvariants verifies the model's own bookkeeping against a recount,
// so that a disagreement with Tree is not a bug of the model's.
func (m *model) checkInvariants() error {
	kids := map[string]int32{}
	for _, p := range slices.Sorted(maps.Keys(m.nodes)) {
		n := m.nodes[p]
		if p == "/" {
			continue
		}
		parent, ok := m.nodes[zpath.Parent(p)]
		if !ok {
			return fmt.Errorf("model: %s has no parent", p)
		}
		if parent.mode.IsEphemeral() {
			return fmt.Errorf("model: %s is a child of an ephemeral", p)
		}
		kids[zpath.Parent(p)]++
		if n.mode.IsEphemeral() {
			if _, open := m.sessions[n.stat.EphemeralOwner]; !open {
				return fmt.Errorf("model: ephemeral %s of closed session %d", p, n.stat.EphemeralOwner)
			}
		} else if n.stat.EphemeralOwner != 0 {
			return fmt.Errorf("model: non-ephemeral %s has owner %d", p, n.stat.EphemeralOwner)
		}
	}
	for p, n := range m.nodes {
		if n.stat.NumChildren != kids[p] {
			return fmt.Errorf("model: %s has NumChildren %d but %d children", p, n.stat.NumChildren, kids[p])
		}
		if n.creations < n.stat.NumChildren {
			return fmt.Errorf("model: %s has %d creations but %d children", p, n.creations, n.stat.NumChildren)
		}
		if n.data != nil && len(n.data) == 0 {
			return fmt.Errorf("model: %s stores empty non-nil data", p)
		}
	}
	return nil
}

// ---- Hand-checked cases for the model itself ----

// modelTester applies commands to a fresh model with consecutive indexes.
type modelTester struct {
	t *testing.T
	m *model
}

func newModelTester(t *testing.T) *modelTester { return &modelTester{t, newModel(0)} }

// do applies c (TimeMs 1000 unless set) and checks its code.
func (mt *modelTester) do(want errcode.Code, c Command) Result {
	mt.t.Helper()
	if c.TimeMs == 0 {
		c.TimeMs = 1000
	}
	r := mt.m.apply(Entry{Index: mt.m.applied + 1, Cmd: &c})
	if r.Code != want {
		mt.t.Fatalf("%s: %s, want %s", oracleDescribeOp(c.Op), oracleFormatResult(r), want.Name())
	}
	return r
}

// same checks a whole result.
func (mt *modelTester) same(got, want Result) {
	mt.t.Helper()
	if d := oracleDiffResult(want, got); d != "" {
		mt.t.Fatalf("%s\n got %s\nwant %s", d, oracleFormatResult(got), oracleFormatResult(want))
	}
}

func (mt *modelTester) stat(path string, want Stat) {
	mt.t.Helper()
	got, err := mt.m.exists(path)
	if err != nil || got != want {
		mt.t.Fatalf("stat of %s = %+v, %v; want %+v", path, got, err, want)
	}
}

func modelOpenCreate(path string) *Create {
	return &Create{Path: path, ACL: OpenACL()}
}

func TestModelBasics(t *testing.T) {
	alice := []Identity{{SchemeDigest, "alice:a1"}}
	bob := []Identity{{SchemeDigest, "bob:b1"}}
	super := []Identity{{SchemeSuper, "admin"}}
	aliceOnly := []ACL{{PermAll, SchemeDigest, "alice:a1"}}

	t.Run("initial", func(t *testing.T) {
		mt := newModelTester(t)
		mt.stat("/", Stat{NumChildren: 1, Cversion: 1})
		mt.stat("/arbor", Stat{})
		if kids, _, err := mt.m.children("/", nil); err != nil || !slices.Equal(kids, []string{"arbor"}) {
			t.Fatalf("children of / = %q, %v", kids, err)
		}
		if acl, _, _ := mt.m.getACL("/arbor", nil); !slices.Equal(acl, ReadACL()) {
			t.Fatalf("ACL of /arbor = %v", acl)
		}
		if n, _ := mt.m.countDescendants("/", nil); n != 1 {
			t.Fatalf("CountDescendants(/) = %d", n)
		}
		if _, err := mt.m.exists("/a/"); !errors.Is(err, errcode.BadArguments) {
			t.Fatalf("exists(/a/) = %v", err)
		}
		if _, _, err := mt.m.get("/a", nil); !errors.Is(err, errcode.NoNode) {
			t.Fatalf("get(/a) = %v", err)
		}
	})

	t.Run("create, sequential, cversion, delete", func(t *testing.T) {
		mt := newModelTester(t)
		r := mt.do(errcode.Ok, Command{ID: RequestID{2, 9}, TimeMs: 5000, Op: &Create{Path: "/a", Data: []byte("hi"), ACL: OpenACL()}})
		mt.same(r, Result{
			Index: 1, ID: RequestID{2, 9},
			OpResult: OpResult{Path: "/a", Stat: Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 5000, Mtime: 5000, DataLength: 2}},
			Events: []Event{
				{NodeCreated, "/a", 1, OpenACL()},
				{NodeChildrenChanged, "/", 1, OpenACL()},
			},
		})
		mt.stat("/", Stat{Pzxid: 1, NumChildren: 2, Cversion: 2})

		for i, want := range []string{"/a/q-0000000000", "/a/q-0000000001", "/a/q-0000000002"} {
			r := mt.do(errcode.Ok, Command{Op: &Create{Path: "/a/q-", ACL: OpenACL(), Mode: PersistentSequential}})
			if r.Path != want || r.Stat.Czxid != int64(2+i) {
				t.Fatalf("sequential create %d: %s", i, oracleFormatResult(r))
			}
		}
		r = mt.do(errcode.Ok, Command{Op: &Delete{Path: "/a/q-0000000001", Version: -1}}) // index 5
		mt.same(r, Result{Index: 5, Events: []Event{
			{NodeDeleted, "/a/q-0000000001", 5, OpenACL()},
			{NodeChildrenChanged, "/a", 5, OpenACL()},
		}})
		r = mt.do(errcode.Ok, Command{Op: &Create{Path: "/a/q-", ACL: OpenACL(), Mode: PersistentSequential}}) // index 6
		if r.Path != "/a/q-0000000003" {
			t.Fatalf("sequential after a delete: %s", r.Path)
		}
		// 4 creations + 1 deletion; mzxid untouched by child changes.
		mt.stat("/a", Stat{Czxid: 1, Mzxid: 1, Pzxid: 6, Ctime: 5000, Mtime: 5000, DataLength: 2, NumChildren: 3, Cversion: 5})
		// The root's counter started at 1 (for /arbor) and /a made it 2.
		r = mt.do(errcode.Ok, Command{Op: &Create{Path: "/", ACL: OpenACL(), Mode: PersistentSequential}})
		if r.Path != "/0000000002" {
			t.Fatalf("sequential under /: %s", r.Path)
		}
		// A name a later sequential create will produce.
		mt.do(errcode.Ok, Command{Op: modelOpenCreate("/a/q-0000000005")})
		mt.do(errcode.NodeExists, Command{Op: &Create{Path: "/a/q-", ACL: OpenACL(), Mode: PersistentSequential}})

		mt.do(errcode.BadVersion, Command{Op: &Delete{Path: "/a", Version: 5}}) // before NotEmpty
		mt.do(errcode.BadVersion, Command{Op: &Check{Path: "/a", Version: -2}}) // only -1 matches any
		mt.do(errcode.NotEmpty, Command{Op: &Delete{Path: "/a", Version: 0}})
		mt.do(errcode.BadArguments, Command{Op: &Delete{Path: "/", Version: -1}})
		mt.do(errcode.NoNode, Command{Op: &Delete{Path: "/nope", Version: -1}})
		mt.do(errcode.NodeExists, Command{Op: modelOpenCreate("/")})
		mt.do(errcode.NodeExists, Command{Op: &Create{Path: "/", ACL: OpenACL(), Parents: true}})
		mt.do(errcode.NoNode, Command{Op: modelOpenCreate("/x/y")})

		r = mt.do(errcode.Ok, Command{TimeMs: 7000, Op: &SetData{Path: "/a", Data: []byte{}, Version: 0}})
		idx := int64(mt.m.applied)
		// 5 creations (with q-0000000005) + 1 deletion.
		want := Stat{Czxid: 1, Mzxid: idx, Pzxid: 8, Ctime: 5000, Mtime: 7000, Version: 1, NumChildren: 4, Cversion: 6}
		mt.same(r, Result{Index: uint64(idx), OpResult: OpResult{Stat: want},
			Events: []Event{{NodeDataChanged, "/a", idx, OpenACL()}}})
		if data, _, _ := mt.m.get("/a", nil); data != nil {
			t.Fatalf("empty data read back as %#v, want nil", data)
		}
		r = mt.do(errcode.Ok, Command{Op: &SetACL{Path: "/a", ACL: ReadACL(), Version: 0}})
		want.Aversion = 1
		mt.same(r, Result{Index: mt.m.applied, OpResult: OpResult{Stat: want}})
		mt.do(errcode.NoAuth, Command{Op: &SetData{Path: "/a", Version: -1}})
		mt.do(errcode.Ok, Command{Identities: super, Op: &SetData{Path: "/a", Version: -1}})
	})

	t.Run("multi", func(t *testing.T) {
		mt := newModelTester(t)
		mt.do(errcode.Ok, Command{Op: modelOpenCreate("/a")})
		before := maps.Clone(mt.m.nodes)
		r := mt.do(errcode.NoNode, Command{Op: &Multi{Ops: []Op{
			modelOpenCreate("/b"),
			&SetData{Path: "/nope", Version: -1},
			&Check{Path: "/a", Version: -1},
		}}})
		mt.same(r, Result{Index: 2, OpResult: OpResult{Code: errcode.NoNode}, Ops: []OpResult{
			{Code: errcode.Ok}, {Code: errcode.NoNode}, {Code: errcode.RuntimeInconsistency},
		}})
		if !maps.EqualFunc(before, mt.m.nodes, func(a, b modelNode) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Fatal("a modelFailed multi changed the tree")
		}
		// An op a Multi may not hold fails at its position; an earlier
		// failure takes precedence.
		r = mt.do(errcode.BadArguments, Command{Op: &Multi{Ops: []Op{
			&Check{Path: "/a", Version: -1},
			&SetACL{Path: "/a", ACL: OpenACL(), Version: -1},
			modelOpenCreate("/c"),
		}}})
		mt.same(r, Result{Index: 3, OpResult: OpResult{Code: errcode.BadArguments}, Ops: []OpResult{
			{Code: errcode.Ok}, {Code: errcode.BadArguments}, {Code: errcode.RuntimeInconsistency},
		}})
		r = mt.do(errcode.BadVersion, Command{Op: &Multi{Ops: []Op{&Check{Path: "/a", Version: 3}, nil}}})
		mt.same(r, Result{Index: 4, OpResult: OpResult{Code: errcode.BadVersion}, Ops: []OpResult{
			{Code: errcode.BadVersion}, {Code: errcode.RuntimeInconsistency},
		}})
		// Success: each op sees the ones before it; Stats are as of each op.
		r = mt.do(errcode.Ok, Command{TimeMs: 2000, Op: &Multi{Ops: []Op{
			modelOpenCreate("/b"),
			&SetData{Path: "/b", Data: []byte("x"), Version: 0},
			&Check{Path: "/b", Version: 1},
			&Create{Path: "/b/s-", ACL: OpenACL(), Mode: PersistentSequential},
			&Delete{Path: "/b/s-0000000000", Version: -1},
			&Delete{Path: "/b", Version: 1},
		}}})
		oa := OpenACL()
		mt.same(r, Result{Index: 5, Ops: []OpResult{
			{Path: "/b", Stat: Stat{Czxid: 5, Mzxid: 5, Pzxid: 5, Ctime: 2000, Mtime: 2000}},
			{Stat: Stat{Czxid: 5, Mzxid: 5, Pzxid: 5, Ctime: 2000, Mtime: 2000, Version: 1, DataLength: 1}},
			{},
			{Path: "/b/s-0000000000", Stat: Stat{Czxid: 5, Mzxid: 5, Pzxid: 5, Ctime: 2000, Mtime: 2000}},
			{},
			{},
		}, Events: []Event{
			{NodeCreated, "/b", 5, oa}, {NodeChildrenChanged, "/", 5, oa},
			{NodeDataChanged, "/b", 5, oa},
			{NodeCreated, "/b/s-0000000000", 5, oa}, {NodeChildrenChanged, "/b", 5, oa},
			{NodeDeleted, "/b/s-0000000000", 5, oa}, {NodeChildrenChanged, "/b", 5, oa},
			{NodeDeleted, "/b", 5, oa}, {NodeChildrenChanged, "/", 5, oa},
		}})
		// Root: /arbor, /a, /b created; /b deleted.
		mt.stat("/", Stat{Pzxid: 5, NumChildren: 2, Cversion: 4})
	})

	t.Run("sessions", func(t *testing.T) {
		mt := newModelTester(t)
		mt.do(errcode.Ok, Command{Op: modelOpenCreate("/a")})
		mt.do(errcode.Ok, Command{Op: &CreateSession{ID: 7, TimeoutMs: 5000, PasswordDigest: []byte("pw")}})
		mt.do(errcode.BadArguments, Command{Op: &CreateSession{ID: 7, TimeoutMs: 5000}})
		mt.do(errcode.BadArguments, Command{Op: &CreateSession{ID: 0, TimeoutMs: 5000}})
		mt.do(errcode.BadArguments, Command{Op: &CreateSession{ID: 8, TimeoutMs: 0}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/e", ACL: OpenACL(), Mode: Ephemeral}})
		r := mt.do(errcode.Ok, Command{Session: 7, Op: &Create{Path: "/e2", ACL: OpenACL(), Mode: Ephemeral}})
		if r.Stat.EphemeralOwner != 7 {
			t.Fatalf("ephemeral owner: %+v", r.Stat)
		}
		mt.do(errcode.Ok, Command{Session: 7, Op: &Create{Path: "/a/e1", ACL: aliceOnly, Mode: EphemeralSequential}})
		mt.do(errcode.NoChildrenForEphemerals, Command{Op: modelOpenCreate("/e2/x")})
		mt.do(errcode.NoChildrenForEphemerals, Command{Op: &Create{Path: "/e2/x/y", ACL: OpenACL(), Parents: true}})
		if got := mt.m.ephemerals(7, ""); !slices.Equal(got, []string{"/a/e10000000000", "/e2"}) {
			t.Fatalf("ephemerals = %q", got)
		}
		if got := mt.m.ephemerals(7, "/a"); !slices.Equal(got, []string{"/a/e10000000000"}) {
			t.Fatalf("ephemerals under /a = %q", got)
		}
		r = mt.do(errcode.Ok, Command{Session: 7, Op: &CloseSession{ID: 7}})
		idx := int64(r.Index)
		mt.same(r, Result{Index: r.Index, Events: []Event{
			{NodeDeleted, "/a/e10000000000", idx, aliceOnly}, {NodeChildrenChanged, "/a", idx, OpenACL()},
			{NodeDeleted, "/e2", idx, OpenACL()}, {NodeChildrenChanged, "/", idx, OpenACL()},
		}})
		mt.do(errcode.SessionExpired, Command{Session: 7, Op: modelOpenCreate("/z")})
		mt.do(errcode.SessionExpired, Command{Op: &CloseSession{ID: 7, Expired: true}})
		if _, err := mt.m.session(7); !errors.Is(err, errcode.SessionExpired) {
			t.Fatalf("session(7) = %v", err)
		}
		mt.do(errcode.Ok, Command{Session: 7, Op: &CreateSession{ID: 7, TimeoutMs: 100}})
		mt.do(errcode.Ok, Command{Op: &CreateSession{ID: -3, TimeoutMs: 100}})
		if got := mt.m.sessionList(); len(got) != 2 || got[0].ID != -3 || got[1].ID != 7 {
			t.Fatalf("sessions = %+v", got)
		}
	})

	t.Run("acl", func(t *testing.T) {
		mt := newModelTester(t)
		r := mt.do(errcode.Ok, Command{Identities: append(slices.Clone(alice), super[0]), Op: &Create{Path: "/p", ACL: []ACL{{PermAll, SchemeAuth, ""}}}})
		if !slices.Equal(r.Events[0].ACL, aliceOnly) {
			t.Fatalf("auth expanded to %v", r.Events[0].ACL)
		}
		if _, _, err := mt.m.get("/p", bob); !errors.Is(err, errcode.NoAuth) {
			t.Fatalf("bob reads /p: %v", err)
		}
		if _, _, err := mt.m.getACL("/p", nil); !errors.Is(err, errcode.NoAuth) {
			t.Fatalf("anyone reads the ACL of /p: %v", err)
		}
		if _, _, err := mt.m.get("/p", super); err != nil {
			t.Fatalf("super reads /p: %v", err)
		}
		if _, err := mt.m.exists("/p"); err != nil {
			t.Fatalf("exists /p: %v", err)
		}
		mt.do(errcode.NoAuth, Command{Identities: bob, Op: modelOpenCreate("/p/c")})
		mt.do(errcode.Ok, Command{Identities: alice, Op: modelOpenCreate("/p/c")})
		mt.do(errcode.NoAuth, Command{Identities: bob, Op: &Delete{Path: "/p/c", Version: -1}})
		// ADMIN alone is enough to read an ACL.
		mt.do(errcode.Ok, Command{Op: &Create{Path: "/adm", ACL: []ACL{{PermAdmin, SchemeWorld, "anyone"}}}})
		if _, _, err := mt.m.getACL("/adm", nil); err != nil {
			t.Fatalf("getACL with ADMIN only: %v", err)
		}

		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/q", ACL: []ACL{{PermAll, SchemeAuth, ""}}}})
		mt.do(errcode.InvalidACL, Command{Identities: super, Op: &Create{Path: "/q", ACL: []ACL{{PermAll, SchemeAuth, ""}}}})
		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/q", ACL: []ACL{}}})
		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/q", ACL: []ACL{{0, SchemeWorld, "anyone"}}}})
		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/q", ACL: []ACL{{PermRead, SchemeDigest, "alice"}}}})
		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/q", ACL: []ACL{{PermRead, "ip", "127.0.0.1"}}}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/q/", ACL: nil}}) // path first
		r = mt.do(errcode.Ok, Command{Identities: alice, Op: &Create{Path: "/q", ACL: []ACL{
			{PermAll, SchemeWorld, "anyone"}, {PermRead, SchemeAuth, "x"}, {PermAll, SchemeWorld, "anyone"}, {PermRead, SchemeDigest, "alice:a1"},
		}}})
		wantACL := []ACL{{PermAll, SchemeWorld, "anyone"}, {PermRead, SchemeDigest, "alice:a1"}}
		if !slices.Equal(r.Events[0].ACL, wantACL) {
			t.Fatalf("deduplicated ACL = %v, want %v", r.Events[0].ACL, wantACL)
		}
		long := make([]ACL, modelMaxACLEntries+1)
		for i := range long {
			long[i] = ACL{PermRead, SchemeDigest, fmt.Sprintf("u%d:x", i)}
		}
		mt.do(errcode.InvalidACL, Command{Op: &SetACL{Path: "/q", ACL: long, Version: -1}})
		mt.do(errcode.Ok, Command{Op: &SetACL{Path: "/q", ACL: long[:modelMaxACLEntries], Version: 0}})
		mt.do(errcode.BadVersion, Command{Identities: super, Op: &SetACL{Path: "/q", ACL: OpenACL(), Version: 0}})
		mt.do(errcode.NoAuth, Command{Op: &SetACL{Path: "/q", ACL: OpenACL(), Version: 1}})
	})

	t.Run("reserved", func(t *testing.T) {
		mt := newModelTester(t)
		mt.do(errcode.NoAuth, Command{Identities: super, Op: modelOpenCreate("/arbor/x")})
		mt.do(errcode.BadArguments, Command{Op: modelOpenCreate("/arbor/x/")}) // path first
		mt.do(errcode.InvalidACL, Command{Op: &Create{Path: "/arbor/x"}})
		mt.do(errcode.Ok, Command{System: true, Op: modelOpenCreate("/arbor/x")}) // System passes /arbor's ACL
		mt.do(errcode.NoAuth, Command{Identities: super, Op: &SetData{Path: "/arbor", Version: -1}})
		mt.do(errcode.NoAuth, Command{Identities: super, Op: &Delete{Path: "/arbor/x", Version: -1}})
		mt.do(errcode.NoAuth, Command{Identities: super, Op: &SetACL{Path: "/arbor", ACL: OpenACL(), Version: -1}})
		mt.do(errcode.NoAuth, Command{Identities: super, Op: &Create{Path: "/arbor/", ACL: OpenACL(), Mode: PersistentSequential}})
		mt.do(errcode.Ok, Command{Op: &Check{Path: "/arbor", Version: 0}})
		r := mt.do(errcode.Ok, Command{Op: &Create{Path: "/arbor", ACL: OpenACL(), Mode: PersistentSequential}})
		if r.Path != "/arbor0000000001" {
			t.Fatalf("sequential /arbor prefix made %s", r.Path)
		}
		mt.do(errcode.Ok, Command{Op: modelOpenCreate("/arborx")})
	})

	t.Run("limits and modes", func(t *testing.T) {
		mt := newModelTester(t)
		mt.do(errcode.Ok, Command{Op: &Create{Path: "/big", ACL: OpenACL(), Data: make([]byte, 1<<20)}})
		mt.do(errcode.BadArguments, Command{Op: &SetData{Path: "/big", Data: make([]byte, 1<<20+1), Version: -1}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/t", ACL: OpenACL(), Mode: PersistentTTL}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/t", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: MaxTTLMs + 1}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/t", ACL: OpenACL(), TTLMs: 5}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/t", ACL: OpenACL(), Mode: 7}})
		mt.do(errcode.BadArguments, Command{Op: &Create{Path: "/t", Mode: 7}}) // before InvalidACL
		mt.do(errcode.Ok, Command{Op: &Create{Path: "/t", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: MaxTTLMs}})
		r := mt.do(errcode.Ok, Command{Op: &Create{Path: "/c-", ACL: OpenACL(), Mode: Container}})
		if r.Path != "/c-" {
			t.Fatalf("container create made %s", r.Path)
		}
		r = mt.do(errcode.Ok, Command{Op: &Create{Path: "/s-", ACL: OpenACL(), Mode: PersistentSequentialTTL, TTLMs: 9}})
		if r.Path != "/s-0000000004" || r.Stat.EphemeralOwner != 0 {
			t.Fatalf("sequential TTL create: %s", oracleFormatResult(r))
		}
	})

	t.Run("reap", func(t *testing.T) {
		mt := newModelTester(t)
		mt.do(errcode.Ok, Command{Op: &Create{Path: "/c", ACL: ReadACL(), Mode: Container}})
		mt.do(errcode.Ok, Command{Op: modelOpenCreate("/p")})
		mt.do(errcode.Ok, Command{TimeMs: 1000, Op: &Create{Path: "/t", ACL: OpenACL(), Mode: PersistentTTL, TTLMs: 100}})
		mt.do(errcode.NoAuth, Command{Identities: super, Op: &Reap{Path: "/c"}})
		mt.do(errcode.BadArguments, Command{System: true, Op: &Reap{Path: "/c/"}})
		mt.do(errcode.NoNode, Command{System: true, Op: &Reap{Path: "/nope"}})
		mt.do(errcode.BadArguments, Command{System: true, Op: &Reap{Path: "/p"}})
		mt.do(errcode.BadVersion, Command{System: true, Op: &Reap{Path: "/c"}}) // never had a child
		mt.do(errcode.Ok, Command{Identities: super, Op: modelOpenCreate("/c/x")})
		mt.do(errcode.NotEmpty, Command{System: true, Op: &Reap{Path: "/c"}})
		mt.do(errcode.Ok, Command{Identities: super, Op: &Delete{Path: "/c/x", Version: -1}})
		if got := mt.m.deletionCandidates(1100, 10); !slices.Equal(got, []string{"/c"}) {
			t.Fatalf("candidates at 1100 = %q", got)
		}
		if got := mt.m.deletionCandidates(1101, 10); !slices.Equal(got, []string{"/c", "/t"}) {
			t.Fatalf("candidates at 1101 = %q", got)
		}
		if got := mt.m.deletionCandidates(1101, 1); !slices.Equal(got, []string{"/c"}) {
			t.Fatalf("candidates at 1101, limit 1 = %q", got)
		}
		r := mt.do(errcode.Ok, Command{System: true, Op: &Reap{Path: "/c"}})
		mt.same(r, Result{Index: r.Index, Events: []Event{
			{NodeDeleted, "/c", int64(r.Index), ReadACL()}, {NodeChildrenChanged, "/", int64(r.Index), OpenACL()},
		}})
		mt.do(errcode.BadVersion, Command{System: true, TimeMs: 1100, Op: &Reap{Path: "/t"}})
		mt.do(errcode.Ok, Command{TimeMs: 1050, Op: &SetData{Path: "/t", Version: -1}})
		mt.do(errcode.BadVersion, Command{System: true, TimeMs: 1101, Op: &Reap{Path: "/t"}})
		mt.do(errcode.Ok, Command{System: true, TimeMs: 1151, Op: &Reap{Path: "/t"}})
	})

	t.Run("parents", func(t *testing.T) {
		mt := newModelTester(t)
		r := mt.do(errcode.Ok, Command{Identities: alice, Op: &Create{Path: "/x/y/z", Data: []byte("d"), ACL: []ACL{{PermAll, SchemeAuth, ""}}, Parents: true}})
		mt.same(r, Result{Index: 1, OpResult: OpResult{Path: "/x/y/z", Stat: Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 1000, Mtime: 1000, DataLength: 1}},
			Events: []Event{
				{NodeCreated, "/x", 1, aliceOnly}, {NodeChildrenChanged, "/", 1, OpenACL()},
				{NodeCreated, "/x/y", 1, aliceOnly}, {NodeChildrenChanged, "/x", 1, aliceOnly},
				{NodeCreated, "/x/y/z", 1, aliceOnly}, {NodeChildrenChanged, "/x/y", 1, aliceOnly},
			}})
		mt.stat("/x", Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 1000, Mtime: 1000, NumChildren: 1, Cversion: 1})
		// CREATE is checked on the deepest existing ancestor, /x/y.
		mt.do(errcode.NoAuth, Command{Identities: bob, Op: &Create{Path: "/x/y/w/v", ACL: OpenACL(), Parents: true}})
		mt.do(errcode.NoAuth, Command{Identities: bob, Op: &Create{Path: "/x/y/z", ACL: OpenACL(), Parents: true}}) // before NodeExists
		mt.do(errcode.NodeExists, Command{Identities: alice, Op: &Create{Path: "/x/y/z", ACL: OpenACL(), Parents: true}})
		r = mt.do(errcode.Ok, Command{Identities: alice, Op: &Create{Path: "/x/n/s-", ACL: OpenACL(), Mode: PersistentSequential, Parents: true}})
		if r.Path != "/x/n/s-0000000000" || len(r.Events) != 4 {
			t.Fatalf("sequential with parents: %s", oracleFormatResult(r))
		}
	})
}
