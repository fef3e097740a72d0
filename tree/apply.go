package tree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// Apply applies a run of committed entries, in order, in one Pebble batch
// together with the new applied index, and returns one Result per entry.
//
// Entries must continue the log exactly: the first index is Applied()+1 and
// each next one is one more. Anything else is a caller bug and panics.
// A returned error is a storage failure: nothing of the run was applied,
// and the member must stop rather than continue with diverging state.
func (t *Tree) Apply(entries []Entry) ([]Result, error) {
	if t.importFailed {
		return nil, ErrIncompleteImport
	}
	if len(entries) == 0 {
		return nil, nil
	}
	a := &applier{t: t, nodes: make(map[string]nodeEntry), sessions: make(map[int64]sessionEntry), once: make(map[int64]*onceState)}
	results := make([]Result, len(entries))
	next := t.applied.Load() + 1
	for i := range entries {
		e := &entries[i]
		if e.Index != next {
			panic(fmt.Sprintf("tree: apply of index %d, want %d", e.Index, next))
		}
		next++
		results[i] = a.apply(e)
		if a.err != nil {
			a.closeIter()
			return nil, fmt.Errorf("apply index %d: %w", e.Index, a.err)
		}
	}
	last := entries[len(entries)-1].Index
	if err := a.closeIter(); err != nil {
		return nil, fmt.Errorf("apply up to index %d: %w", last, err)
	}
	if err := a.commit(last); err != nil {
		return nil, fmt.Errorf("apply up to index %d: %w", last, err)
	}
	t.cache.mu.Lock()
	for p, e := range a.nodes {
		if e.n != nil || e.dirty {
			t.cache.putLocked(p, e.n)
		}
	}
	t.cache.mu.Unlock()
	t.applied.Store(last)
	t.sessCache.committed(a)
	return results, nil
}

// nodeEntry is the applier's view of one path: n is nil when the path has
// no node; dirty means it differs from the store.
type nodeEntry struct {
	n     *node
	dirty bool
}

// sessionEntry is the applier's view of one session: rec is nil when the
// session is not open; dirty means it differs from the store. A record is
// never modified in place: the session cache shares it.
type sessionEntry struct {
	rec   *sessionRecord
	dirty bool
}

// kvOp is a pending write of an index, session or result key, or (with
// end set) the deletion of the range [key, end). Its slices are not
// modified once queued (most point into the applier's arena).
type kvOp struct {
	key   []byte
	value []byte // nil: delete
	end   []byte
}

// undoRec restores one overlay entry when a command fails part-way.
type undoRec struct {
	path string
	prev nodeEntry
	had  bool
}

// applier holds the state of one Apply call: an overlay of the nodes read
// and written so far (so a run reads each node from Pebble at most once),
// the pending key writes, and an undo log for the current command.
type applier struct {
	t     *Tree
	nodes map[string]nodeEntry
	// sessions is the overlay of session records read and written in
	// this run. Session commands and result records change it only after
	// their last check, so it needs no undo.
	sessions map[int64]sessionEntry
	// once holds, per session, the results recorded under result keys in
	// this run, so a retry within the same run finds them.
	once map[int64]*onceState
	kv   []kvOp
	iter *pebble.Iterator // see readNode; nil until needed
	// arena holds the keys and values of kv built in this run, so a run
	// allocates a few growing buffers instead of two slices per write.
	// A slice handed out (arenaSince) is never written again, even after
	// the arena moves to a larger buffer.
	arena  []byte
	undo   []undoRec
	events []Event
	err    error // first storage error; ends the run

	// per command
	zxid    int64
	timeMs  int64
	session int64
	system  bool
	caller  caller
}

// get returns the node at p, or nil.
func (a *applier) get(p string) *node {
	if e, ok := a.nodes[p]; ok {
		return e.n
	}
	if n, ok := a.t.cache.get(p); ok {
		a.nodes[p] = nodeEntry{n: n}
		return n
	}
	n, err := a.readNode(p)
	if err != nil {
		if a.err == nil {
			a.err = err
		}
		return nil
	}
	a.nodes[p] = nodeEntry{n: n}
	return n
}

// readNode reads the node at p from the store, or nil, through one
// iterator per run: a Get sets up an iterator of its own each time, which
// is most of its cost, and a create always reads its new path, a miss.
// The iterator sees the store as the run began, as every read of the run
// must: the run's own writes are in the overlay.
func (a *applier) readNode(p string) (*node, error) {
	if a.iter == nil {
		it, err := a.t.db.NewIter(nil)
		if err != nil {
			return nil, err
		}
		a.iter = it
	}
	var kb [128]byte
	key := nodeKey(kb[:0], p)
	if !a.iter.SeekPrefixGE(key) || !bytes.Equal(a.iter.Key(), key) {
		return nil, a.iter.Error()
	}
	v, err := a.iter.ValueAndErr()
	if err != nil {
		return nil, err
	}
	return a.t.decodeNodeAt(p, v)
}

// closeIter closes the run's iterator, if it opened one.
func (a *applier) closeIter() error {
	if a.iter == nil {
		return nil
	}
	err := a.iter.Close()
	a.iter = nil
	return err
}

// put sets (or, with n nil, deletes) the node at p, recording undo.
func (a *applier) put(p string, n *node) {
	prev, had := a.nodes[p]
	a.undo = append(a.undo, undoRec{path: p, prev: prev, had: had})
	a.nodes[p] = nodeEntry{n: n, dirty: true}
}

// setKey queues a write of key. The caller hands key and value over: it
// must not modify them afterwards.
func (a *applier) setKey(key []byte, value []byte) {
	if value == nil {
		value = []byte{}
	}
	a.kv = append(a.kv, kvOp{key: key, value: value})
}

// deleteKey queues the deletion of key, which the caller hands over.
func (a *applier) deleteKey(key []byte) { a.kv = append(a.kv, kvOp{key: key}) }

// arenaSince returns what was appended to the arena from start on, capped
// so that a later append cannot write over it.
func (a *applier) arenaSince(start int) []byte {
	return a.arena[start:len(a.arena):len(a.arena)]
}

// resultKey returns the key of a session's recorded result, in the arena.
func (a *applier) resultKey(id int64, seq uint64) []byte {
	start := len(a.arena)
	a.arena = appendResultKey(a.arena, id, seq)
	return a.arenaSince(start)
}

type mark struct{ undo, kv, events int }

func (a *applier) mark() mark { return mark{len(a.undo), len(a.kv), len(a.events)} }

// rollback undoes every change made since m.
func (a *applier) rollback(m mark) {
	for i := len(a.undo) - 1; i >= m.undo; i-- {
		u := a.undo[i]
		if u.had {
			a.nodes[u.path] = u.prev
		} else {
			delete(a.nodes, u.path)
		}
	}
	a.undo = a.undo[:m.undo]
	a.kv = a.kv[:m.kv]
	a.events = a.events[:m.events]
}

func (a *applier) event(typ EventType, p string, acl []ACL) {
	a.events = append(a.events, Event{Type: typ, Path: p, Zxid: a.zxid, ACL: acl})
}

// commit writes the run's changes and the applied index in one batch. The
// batch is not synced: the synced Raft log is the durability point, and a
// restart re-applies whatever of it is missing here.
//
// Node and session record writes go in key order, each key once per run:
// Pebble's memtable inserts a batch's keys in batch order, and an
// increasing sequence lets its skiplist reuse the previous insert position
// instead of searching from the top for every key.
func (a *applier) commit(applied uint64) error {
	type write struct {
		key   []byte
		value []byte // nil: delete
	}
	writes := make([]write, 0, len(a.nodes)+len(a.sessions)+1)
	var buf []byte // one buffer for every key and value of the run
	// cut returns the write of the key buf[start:mid] and, if set, the
	// value buf[mid:]; later appends to buf cannot reach either.
	cut := func(start, mid int, set bool) write {
		w := write{key: buf[start:mid:mid]}
		if set {
			w.value = buf[mid:len(buf):len(buf)]
		}
		return w
	}
	for p, e := range a.nodes {
		if !e.dirty {
			continue
		}
		start := len(buf)
		buf = nodeKey(buf, p)
		mid := len(buf)
		if e.n != nil {
			buf = appendNode(buf, e.n)
		}
		writes = append(writes, cut(start, mid, e.n != nil))
	}
	for id, e := range a.sessions {
		if !e.dirty {
			continue
		}
		start := len(buf)
		buf = appendSessionKey(buf, id)
		mid := len(buf)
		if e.rec != nil {
			buf = appendSession(buf, e.rec)
		}
		writes = append(writes, cut(start, mid, e.rec != nil))
	}
	writes = append(writes, write{key: appliedKey(), value: binary.BigEndian.AppendUint64(nil, applied)})
	slices.SortFunc(writes, func(x, y write) int { return bytes.Compare(x.key, y.key) })

	b := a.t.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		var err error
		if w.value == nil {
			err = b.Delete(w.key, nil)
		} else {
			err = b.Set(w.key, w.value, nil)
		}
		if err != nil {
			return err
		}
	}
	// Index, session and result writes keep their order: a later delete of
	// a key set earlier in the run must win.
	for _, op := range a.kv {
		var err error
		switch {
		case op.end != nil:
			err = b.DeleteRange(op.key, op.end, nil)
		case op.value == nil:
			err = b.Delete(op.key, nil)
		default:
			err = b.Set(op.key, op.value, nil)
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

// apply applies one entry against the overlay.
func (a *applier) apply(e *Entry) Result {
	res := Result{Index: e.Index}
	c := e.Cmd
	if c == nil {
		return res
	}
	res.ID = c.ID
	a.zxid, a.timeMs, a.session, a.system = int64(e.Index), c.TimeMs, c.Session, c.System
	a.caller = newCaller(c.Identities)
	a.caller.super = a.caller.super || c.System
	a.undo = a.undo[:0]
	m := a.mark()

	if _, ok := c.Op.(*CreateSession); !ok && c.Session != 0 && a.getSession(c.Session) == nil {
		res.Code = errcode.SessionExpired
		return res
	}
	if c.Seq != 0 || c.LowestUnacked != 0 {
		if done := a.checkOnce(c, &res); done {
			return res
		}
	}
	a.applyOp(c, &res)
	if res.Code != errcode.Ok || a.err != nil {
		a.rollback(m)
	} else if len(a.events) > 0 {
		res.Events = append([]Event(nil), a.events...)
		a.events = a.events[:0]
	}
	if c.Seq != 0 && a.err == nil {
		a.recordResult(c, &res)
	}
	return res
}

// applyOp applies the command's op, leaving the outcome in res.
func (a *applier) applyOp(c *Command, res *Result) {
	switch op := c.Op.(type) {
	case *Multi:
		res.Ops = make([]OpResult, len(op.Ops))
		for i, sub := range op.Ops {
			r := a.multiOp(sub)
			if r.Code != errcode.Ok {
				for j := range res.Ops {
					switch {
					case j < i:
						res.Ops[j] = OpResult{Code: errcode.Ok}
					case j > i:
						res.Ops[j] = OpResult{Code: errcode.RuntimeInconsistency}
					}
				}
				res.Ops[i] = OpResult{Code: r.Code}
				res.Code = r.Code
				break
			}
			res.Ops[i] = r
		}
	default:
		res.OpResult = a.op(c.Op)
	}
}

func (a *applier) multiOp(op Op) OpResult {
	switch op.(type) {
	case *Create, *Delete, *SetData, *Check:
		return a.op(op)
	}
	return OpResult{Code: errcode.BadArguments}
}

func (a *applier) op(op Op) OpResult {
	switch op := op.(type) {
	case *Create:
		return a.create(op)
	case *Delete:
		return OpResult{Code: a.delete(op)}
	case *SetData:
		return a.setData(op)
	case *Check:
		return OpResult{Code: a.check(op)}
	case *SetACL:
		return a.setACL(op)
	case *CreateSession:
		return OpResult{Code: a.createSession(op)}
	case *CloseSession:
		return OpResult{Code: a.closeSession(op)}
	case *Reap:
		return OpResult{Code: a.reap(op)}
	}
	return OpResult{Code: errcode.BadArguments}
}

// writable reports whether the command may change p: only System commands
// change the reserved subtree.
func (a *applier) writable(p string) bool {
	return a.system || !zpath.IsReserved(p)
}

func (a *applier) create(op *Create) OpResult {
	fail := func(c errcode.Code) OpResult { return OpResult{Code: c} }
	mode := op.Mode
	if !mode.Valid() {
		return fail(errcode.BadArguments)
	}
	var perr error
	if mode.IsSequential() {
		perr = zpath.ValidateSequential(op.Path)
	} else {
		perr = zpath.Validate(op.Path)
	}
	switch {
	case perr != nil, len(op.Data) > a.t.maxData:
		return fail(errcode.BadArguments)
	case mode.IsTTL() && (op.TTLMs <= 0 || op.TTLMs > MaxTTLMs):
		return fail(errcode.BadArguments)
	case !mode.IsTTL() && op.TTLMs != 0:
		return fail(errcode.BadArguments)
	case mode.IsEphemeral() && a.session == 0:
		return fail(errcode.BadArguments)
	}
	acl, open, code := a.t.fixACL(op.ACL, &a.caller)
	if code != errcode.Ok {
		return fail(code)
	}
	parentPath := zpath.Parent(op.Path)
	if mode.IsSequential() {
		// The parent of the completed name: "/q/" and "/q/x-" both go in /q.
		parentPath = op.Path[:max(len(op.Path)-len(zpath.Base(op.Path))-1, 1)]
	}
	reservedCheck := op.Path
	if mode.IsSequential() {
		reservedCheck = parentPath
	}
	if !a.writable(reservedCheck) {
		return fail(errcode.NoAuth)
	}
	if op.Path == "/" && !mode.IsSequential() {
		return fail(errcode.NodeExists)
	}
	parent := a.get(parentPath)
	var missing []string // ancestors to create, top-down
	if parent == nil {
		if !op.Parents {
			return fail(errcode.NoNode)
		}
		anc := parentPath
		for parent == nil {
			if a.err != nil || anc == "/" {
				return fail(errcode.SystemError) // storage error, or no root: a.err says
			}
			missing = append(missing, anc)
			anc = zpath.Parent(anc)
			parent = a.get(anc)
		}
		for i, j := 0, len(missing)-1; i < j; i, j = i+1, j-1 {
			missing[i], missing[j] = missing[j], missing[i]
		}
		if !a.caller.allowed(parent.acl, PermCreate) {
			return fail(errcode.NoAuth)
		}
		if parent.mode.IsEphemeral() {
			return fail(errcode.NoChildrenForEphemerals)
		}
	} else if !a.caller.allowed(parent.acl, PermCreate) {
		return fail(errcode.NoAuth)
	}
	p := op.Path
	if mode.IsSequential() {
		seq := int32(0)
		if len(missing) == 0 {
			seq = parent.creations
		}
		p = zpath.Sequential(op.Path, seq)
	}
	if len(missing) == 0 {
		if a.get(p) != nil {
			return fail(errcode.NodeExists)
		}
		if parent.mode.IsEphemeral() {
			return fail(errcode.NoChildrenForEphemerals)
		}
	}
	if a.err != nil {
		return fail(errcode.SystemError)
	}
	for _, mp := range missing {
		a.addChild(mp, &node{mode: Persistent, acl: acl, openACL: open})
	}
	// Data is copied: the node outlives the command in the apply cache.
	n := &node{mode: mode, acl: acl, openACL: open, ttlMs: op.TTLMs, data: cloneData(op.Data)}
	if mode.IsEphemeral() {
		n.owner = a.session
	}
	a.addChild(p, n)
	return OpResult{Path: p, Stat: n.stat()}
}

// addChild links a new node n (stat times not yet set) at p under its
// parent, which must exist.
func (a *applier) addChild(p string, n *node) {
	pp := zpath.Parent(p)
	parent := a.get(pp).clone()
	parent.creations++
	parent.numChildren++
	parent.pzxid = a.zxid
	a.put(pp, parent)
	n.czxid, n.mzxid, n.pzxid = a.zxid, a.zxid, a.zxid
	n.ctime, n.mtime = a.timeMs, a.timeMs
	a.put(p, n)
	if n.mode.IsEphemeral() {
		a.setKey(ephemeralKey(n.owner, p), nil)
	}
	if n.mode == Container || n.mode.IsTTL() {
		a.setKey(reapKey(p), nil)
	}
	a.event(NodeCreated, p, n.acl)
	a.event(NodeChildrenChanged, pp, parent.acl)
}

// removeChild unlinks the node n at p from its parent.
func (a *applier) removeChild(p string, n *node) {
	pp := zpath.Parent(p)
	old := a.get(pp)
	if old == nil {
		if a.err == nil {
			a.err = fmt.Errorf("%w: %q has no parent", ErrCorruptState, p)
		}
		return
	}
	parent := old.clone()
	parent.numChildren--
	parent.pzxid = a.zxid
	a.put(pp, parent)
	a.put(p, nil)
	if n.mode.IsEphemeral() {
		a.deleteKey(ephemeralKey(n.owner, p))
	}
	if n.mode == Container || n.mode.IsTTL() {
		a.deleteKey(reapKey(p))
	}
	a.event(NodeDeleted, p, n.acl)
	a.event(NodeChildrenChanged, pp, parent.acl)
}

// cloneData copies data for a node, which stores empty data as nil.
func cloneData(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	return bytes.Clone(data)
}

func versionMatches(want, have int32) bool { return want == -1 || want == have }

func dataVersion(n *node) int32 { return n.version }
func aclVersion(n *node) int32  { return n.aversion }

// target returns the existing node at p that an op changes or checks,
// after checking, in ZooKeeper's order, that it exists (NoNode), that the
// caller has perm on it (NoAuth) and that want matches its version as
// read by version (BadVersion).
func (a *applier) target(p string, perm Perm, want int32, version func(*node) int32) (*node, errcode.Code) {
	n := a.get(p)
	switch {
	case n == nil:
		return nil, errcode.NoNode
	case !a.caller.allowed(n.acl, perm):
		return nil, errcode.NoAuth
	case !versionMatches(want, version(n)):
		return nil, errcode.BadVersion
	}
	return n, errcode.Ok
}

func (a *applier) delete(op *Delete) errcode.Code {
	if zpath.Validate(op.Path) != nil || op.Path == "/" {
		return errcode.BadArguments
	}
	if !a.writable(op.Path) {
		return errcode.NoAuth
	}
	n := a.get(op.Path)
	if n == nil {
		return errcode.NoNode
	}
	parent := a.get(zpath.Parent(op.Path))
	switch {
	case parent == nil:
		return errcode.SystemError // a.err is set: the store is corrupt
	case !a.caller.allowed(parent.acl, PermDelete):
		return errcode.NoAuth
	case !versionMatches(op.Version, n.version):
		return errcode.BadVersion
	case n.numChildren > 0:
		return errcode.NotEmpty
	}
	a.removeChild(op.Path, n)
	return errcode.Ok
}

func (a *applier) setData(op *SetData) OpResult {
	fail := func(c errcode.Code) OpResult { return OpResult{Code: c} }
	if zpath.Validate(op.Path) != nil || len(op.Data) > a.t.maxData {
		return fail(errcode.BadArguments)
	}
	if !a.writable(op.Path) {
		return fail(errcode.NoAuth)
	}
	old, code := a.target(op.Path, PermWrite, op.Version, dataVersion)
	if code != errcode.Ok {
		return fail(code)
	}
	n := old.clone()
	n.data = cloneData(op.Data)
	n.version++
	n.mzxid, n.mtime = a.zxid, a.timeMs
	a.put(op.Path, n)
	a.event(NodeDataChanged, op.Path, n.acl)
	return OpResult{Stat: n.stat()}
}

func (a *applier) check(op *Check) errcode.Code {
	if zpath.Validate(op.Path) != nil {
		return errcode.BadArguments
	}
	_, code := a.target(op.Path, PermRead, op.Version, dataVersion)
	return code
}

func (a *applier) setACL(op *SetACL) OpResult {
	fail := func(c errcode.Code) OpResult { return OpResult{Code: c} }
	if zpath.Validate(op.Path) != nil {
		return fail(errcode.BadArguments)
	}
	acl, open, code := a.t.fixACL(op.ACL, &a.caller)
	if code != errcode.Ok {
		return fail(code)
	}
	if !a.writable(op.Path) {
		return fail(errcode.NoAuth)
	}
	old, code := a.target(op.Path, PermAdmin, op.Version, aclVersion)
	if code != errcode.Ok {
		return fail(code)
	}
	n := old.clone()
	n.acl, n.openACL = acl, open
	n.aversion++
	a.put(op.Path, n)
	return OpResult{Stat: n.stat()}
}

func (a *applier) reap(op *Reap) errcode.Code {
	if !a.system {
		return errcode.NoAuth
	}
	if zpath.Validate(op.Path) != nil || op.Path == "/" {
		return errcode.BadArguments
	}
	n := a.get(op.Path)
	if n == nil {
		return errcode.NoNode
	}
	if code := reapable(n, a.timeMs); code != errcode.Ok {
		return code
	}
	a.removeChild(op.Path, n)
	return errcode.Ok
}

// getSession returns the session record, or nil if the session is not open.
func (a *applier) getSession(id int64) *sessionRecord {
	if e, ok := a.sessions[id]; ok {
		return e.rec
	}
	if rec, ok := a.t.sessCache.get(id); ok {
		a.sessions[id] = sessionEntry{rec: rec}
		return rec
	}
	var s *sessionRecord
	v, err := getBytes(a.t.db, sessionKey(id))
	if err == nil {
		s, err = decodeSession(id, v)
	}
	if err == nil && s != nil && s.keyedUnknown {
		// A format 1 record: its results are all under result keys.
		var high uint64
		high, err = a.t.maxRecordedSeq(id)
		s.keyedUnknown = false
		if high >= s.LowestUnacked {
			s.keyedHigh = high
		}
	}
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		if a.err == nil {
			a.err = err
		}
		return nil
	}
	a.sessions[id] = sessionEntry{rec: s}
	return s
}

// putSession sets (or, with rec nil, deletes) session id's record.
func (a *applier) putSession(id int64, rec *sessionRecord) {
	a.sessions[id] = sessionEntry{rec: rec, dirty: true}
}

func (a *applier) createSession(op *CreateSession) errcode.Code {
	if op.ID == 0 || op.TimeoutMs <= 0 || a.getSession(op.ID) != nil {
		return errcode.BadArguments
	}
	a.putSession(op.ID, &sessionRecord{Session: Session{ID: op.ID, TimeoutMs: op.TimeoutMs, PasswordDigest: op.PasswordDigest}})
	return errcode.Ok
}

func (a *applier) closeSession(op *CloseSession) errcode.Code {
	if a.getSession(op.ID) == nil {
		return errcode.SessionExpired
	}
	for _, p := range a.ephemeralsOf(op.ID) {
		n := a.get(p)
		if n == nil {
			if a.err == nil {
				a.err = fmt.Errorf("%w: ephemeral index names missing node %q", ErrCorruptState, p)
			}
			return errcode.SystemError
		}
		a.removeChild(p, n)
	}
	a.putSession(op.ID, nil)
	prefix := resultPrefix(op.ID)
	a.kv = append(a.kv, kvOp{key: prefix, end: prefixUpper(prefix)})
	a.once[op.ID] = &onceState{cleared: true}
	return errcode.Ok
}

// ephemeralsOf returns the sorted paths of the session's ephemerals: those
// in the store, adjusted by this run's pending index writes.
func (a *applier) ephemeralsOf(id int64) []string {
	prefix := ephemeralPrefix(id)
	set := make(map[string]bool)
	err := scan(a.t.db, prefix, prefixUpper(prefix), func(k, _ []byte) error {
		set[string(k[len(prefix):])] = true
		return nil
	})
	if err != nil {
		if a.err == nil {
			a.err = err
		}
		return nil
	}
	for _, op := range a.kv {
		if len(op.key) > len(prefix) && op.end == nil && bytes.HasPrefix(op.key, prefix) {
			set[string(op.key[len(prefix):])] = op.value != nil
		}
	}
	out := make([]string, 0, len(set))
	for p, ok := range set {
		if ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
