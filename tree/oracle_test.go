package tree

// The oracle tests drive the real Tree and the naive model (model_test.go)
// with the same seeded random commands and require identical results,
// events, reads and final state. A failure prints its seed; replay it with
//
//	go test ./tree -run 'TestOracle$' -oracle.seed=N
//
// or ARBOR_ORACLE_SEED=N. Without either, each run picks a new seed.
//
// The command stream depends only on the seed (reads use their own random
// source), so a model-only run (TestOracleGeneratorCoverage) sees exactly
// the commands that TestOracle applies to the Tree for the same seed.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/zpath"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	flagOracleSeed     = flag.Uint64("oracle.seed", 0, "seed for the oracle tests (0: random, or $ARBOR_ORACLE_SEED)")
	flagOracleCommands = flag.Int("oracle.commands", 100_000, "commands TestOracle applies")
)

const (
	oracleMaxDataBytes = 64     // small, so that the generator exceeds it
	oracleFullEvery    = 10_000 // commands between full-state comparisons
	oracleMaxBatch     = 300
	oracleStartMs      = 1_700_000_000_000
)

// oracleSeed returns the seed given by flag or environment, or a random one,
// and logs it.
func oracleSeed(t testing.TB, fallback uint64) uint64 {
	t.Helper()
	seed := *flagOracleSeed
	if seed == 0 {
		if s := os.Getenv("ARBOR_ORACLE_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("ARBOR_ORACLE_SEED=%q: %v", s, err)
			}
			seed = v
		}
	}
	if seed == 0 {
		seed = fallback
	}
	for seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("oracle seed %d", seed)
	return seed
}

// ---- The generator ----

// The kinds of top-level command, indexes into oracleGen.weights.
const (
	oracleKindCreate = iota
	oracleKindDelete
	oracleKindSetData
	oracleKindCheck
	oracleKindSetACL
	oracleKindMulti
	oracleKindCreateSession
	oracleKindCloseSession
	oracleKindReap
	oracleKinds
)

// oracleGen generates commands against a model, applying each to the model
// as soon as it is generated so that the next one can aim at the current
// state. It keeps exact mirrors of the model's live paths and open sessions
// (in slices, so that picks are deterministic, unlike map iteration).
type oracleGen struct {
	rng         *rand.Rand
	m           *model
	index       uint64
	nowMs       int64
	requestSeq  uint64
	nextSession int64
	open        []int64 // open sessions
	closed      []int64 // the most recently closed sessions
	live        []string
	liveAt      map[string]int
	names       []string // the small name universe, so that ops collide
	seqNames    []string // names a sequential create will produce later
	badPaths    []string
	reserved    []string
	once        map[int64]*oracleOnce // exactly-once state of each open session
}

// oracleOnce is the generator's view of one session's exactly-once writes,
// as a client would keep it.
type oracleOnce struct {
	next uint64        // the next new seq
	low  uint64        // the client's acknowledgement so far
	sent []oracleWrite // recent writes, for retries
}

type oracleWrite struct {
	seq uint64
	op  Op
}

func newOracleGen(seed uint64, m *model) *oracleGen {
	g := &oracleGen{
		rng:         rand.New(rand.NewPCG(seed, 0x6f7261636c65)),
		m:           m,
		nowMs:       oracleStartMs,
		nextSession: 1,
		liveAt:      map[string]int{},
		once:        map[int64]*oracleOnce{},
		names:       []string{"a", "b", "c"},
		seqNames:    []string{"s-0000000000", "s-0000000001", "s-0000000002", "s-0000000004", "x"},
		badPaths: []string{"", "a", "a/b", "/a/", "//a", "/a//b", "/a/.", "/a/../b",
			"/./a", "/a\x00", "/a\x01b", "/a\xff", "/a\u0085", "/\ufff0"},
		reserved: []string{"/arbor", "/arbor/a", "/arbor/a/b", "/arbor/x", "/arborx"},
	}
	for _, p := range slices.Sorted(maps.Keys(m.nodes)) {
		g.addLive(p)
	}
	return g
}

func (g *oracleGen) chance(percent int) bool { return g.rng.IntN(100) < percent }

func (g *oracleGen) addLive(p string) {
	if _, ok := g.liveAt[p]; ok {
		panic("oracle: live path added twice: " + p)
	}
	g.liveAt[p] = len(g.live)
	g.live = append(g.live, p)
}

func (g *oracleGen) removeLive(p string) {
	i, ok := g.liveAt[p]
	if !ok {
		panic("oracle: removing unknown live path: " + p)
	}
	last := g.live[len(g.live)-1]
	g.live[i] = last
	g.liveAt[last] = i
	g.live = g.live[:len(g.live)-1]
	delete(g.liveAt, p)
}

// next generates one entry, applies it to the model and returns both.
func (g *oracleGen) next() (Entry, Result) {
	g.index++
	e := Entry{Index: g.index}
	if g.rng.IntN(50) != 0 {
		e.Cmd = g.command()
	}
	res := g.m.apply(e)
	g.note(e, res)
	return e, res
}

// note updates the mirrors from a result.
func (g *oracleGen) note(e Entry, res Result) {
	if e.Cmd == nil || res.Code != errcode.Ok {
		return
	}
	for _, ev := range res.Events {
		switch ev.Type {
		case NodeCreated:
			g.addLive(ev.Path)
		case NodeDeleted:
			g.removeLive(ev.Path)
		}
	}
	switch op := e.Cmd.Op.(type) {
	case *CreateSession:
		g.open = append(g.open, op.ID)
		delete(g.once, op.ID)
	case *CloseSession:
		delete(g.once, op.ID)
		g.open = slices.DeleteFunc(g.open, func(id int64) bool { return id == op.ID })
		g.closed = append(g.closed, op.ID)
		if len(g.closed) > 16 {
			g.closed = slices.Delete(g.closed, 0, 1)
		}
	}
}

func (g *oracleGen) advanceClock() {
	g.nowMs += g.rng.Int64N(100)
	switch {
	case g.rng.IntN(400) == 0:
		g.nowMs += 5000 + g.rng.Int64N(20_000)
	case g.rng.IntN(1000) == 0:
		g.nowMs -= g.rng.Int64N(2000) // a new leader with a slower clock
	}
}

func (g *oracleGen) command() *Command {
	g.advanceClock()
	c := &Command{
		ID:         RequestID{Member: 1 + uint64(g.rng.IntN(3)), Seq: g.requestSeq},
		TimeMs:     g.nowMs,
		Identities: g.identities(),
		Session:    g.commandSession(),
		System:     g.chance(3),
	}
	g.requestSeq++
	if c.System && g.chance(50) {
		// arbor's own writes to /arbor pass its ReadACL as a super user.
		c.Identities = append(c.Identities, Identity{SchemeSuper, "arbor"})
	}
	aimed := g.chance(50)
	switch g.kind() {
	case oracleKindCreate:
		c.Op = g.createOp(c, aimed)
	case oracleKindDelete:
		c.Op = g.deleteOp(aimed)
	case oracleKindSetData:
		c.Op = g.setDataOp(aimed)
	case oracleKindCheck:
		c.Op = g.checkOp(aimed)
	case oracleKindSetACL:
		c.Op = g.setACLOp(aimed)
	case oracleKindMulti:
		c.Op = g.multiOp(c)
	case oracleKindCreateSession:
		c.Op = g.createSessionOp()
	case oracleKindCloseSession:
		c.Op = g.closeSessionOp(c)
	case oracleKindReap:
		c.Op = g.reapOp(c)
	}
	g.exactlyOnce(c)
	return c
}

// exactlyOnce gives some commands a write seq and acknowledgement, as a
// client does: new writes, retries of earlier ones (some already
// acknowledged), jumps past the window, and malformed pairs.
func (g *oracleGen) exactlyOnce(c *Command) {
	if g.chance(1) { // anywhere, even where a seq is not allowed
		c.Seq, c.LowestUnacked = 1, uint64(g.rng.IntN(3))
		return
	}
	switch c.Op.(type) {
	case *Create, *Delete, *SetData, *Check, *SetACL, *Multi:
	default:
		return
	}
	if c.Session == 0 || !g.chance(45) {
		return
	}
	st := g.once[c.Session]
	if st == nil {
		st = &oracleOnce{next: 1}
		g.once[c.Session] = st
	}
	switch r := g.rng.IntN(100); {
	case r < 25 && len(st.sent) > 0: // a retry: the same write, sent again
		w := st.sent[len(st.sent)-1-g.rng.IntN(min(len(st.sent), 8))]
		c.Op, c.Seq, c.LowestUnacked = w.op, w.seq, min(max(st.low, 1), w.seq)
	case r < 30: // malformed: the acknowledgement above the seq
		c.Seq, c.LowestUnacked = st.next, st.next+1
	case r < 33: // past the window
		c.Seq = st.next + MaxUnackedWrites + uint64(g.rng.IntN(3))
		c.LowestUnacked = max(st.low, 1)
	default: // a new write, acknowledging some of the earlier ones
		c.Seq = st.next
		st.next++
		if g.chance(60) {
			st.low = st.low + uint64(g.rng.IntN(int(c.Seq-st.low)+1))
		}
		c.LowestUnacked = max(st.low, 1)
		st.sent = append(st.sent, oracleWrite{c.Seq, c.Op})
		if len(st.sent) > 32 {
			st.sent = st.sent[1:]
		}
	}
}

// kind picks a command kind, steering the node and session counts so that
// they stay small: collisions stay likely and the model stays cheap.
func (g *oracleGen) kind() int {
	w := [oracleKinds]int{
		oracleKindCreate: 300, oracleKindDelete: 165, oracleKindSetData: 150, oracleKindCheck: 50, oracleKindSetACL: 60,
		oracleKindMulti: 130, oracleKindCreateSession: 40, oracleKindCloseSession: 35, oracleKindReap: 70,
	}
	switch n := len(g.live); {
	case n > 500:
		w[oracleKindCreate], w[oracleKindDelete] = 50, 415
	case n > 250:
		w[oracleKindCreate], w[oracleKindDelete] = 150, 315
	}
	switch n := len(g.open); {
	case n > 12:
		w[oracleKindCloseSession] = 80
	case n < 2:
		w[oracleKindCreateSession], w[oracleKindCloseSession] = 70, 10
	}
	total := 0
	for _, x := range w {
		total += x
	}
	r := g.rng.IntN(total)
	for k, x := range w {
		if r < x {
			return k
		}
		r -= x
	}
	panic("unreachable")
}

func (g *oracleGen) identities() []Identity {
	alice := Identity{SchemeDigest, "alice:a1"}
	bob := Identity{SchemeDigest, "bob:b1"}
	super := Identity{SchemeSuper, "admin"}
	switch r := g.rng.IntN(100); {
	case r < 30:
		return nil
	case r < 55:
		return []Identity{alice}
	case r < 72:
		return []Identity{bob}
	case r < 82:
		return []Identity{super}
	case r < 92:
		return []Identity{alice, bob}
	default:
		return []Identity{bob, super}
	}
}

func (g *oracleGen) openSession() int64 {
	if len(g.open) == 0 {
		return 0
	}
	return g.open[g.rng.IntN(len(g.open))]
}

// staleSession is a closed session, or one never opened.
func (g *oracleGen) staleSession() int64 {
	if len(g.closed) > 0 && g.chance(80) {
		return g.closed[g.rng.IntN(len(g.closed))]
	}
	return 1_000_000_000 + g.rng.Int64N(10)
}

func (g *oracleGen) commandSession() int64 {
	switch r := g.rng.IntN(100); {
	case r < 45:
		return 0
	case r < 92:
		return g.openSession()
	default:
		return g.staleSession()
	}
}

func (g *oracleGen) mode() Mode {
	switch r := g.rng.IntN(100); {
	case r < 34:
		return Persistent
	case r < 48:
		return Ephemeral
	case r < 60:
		return PersistentSequential
	case r < 70:
		return EphemeralSequential
	case r < 84:
		return Container
	case r < 92:
		return PersistentTTL
	case r < 97:
		return PersistentSequentialTTL
	default:
		return Mode(7 + g.rng.IntN(249)) // invalid
	}
}

func (g *oracleGen) ttl() int64 {
	switch r := g.rng.IntN(100); {
	case r < 86:
		return 1 + g.rng.Int64N(3000)
	case r < 90:
		return 0
	case r < 94:
		return -1 - g.rng.Int64N(100)
	case r < 97:
		return MaxTTLMs
	default:
		return MaxTTLMs + 1
	}
}

func (g *oracleGen) randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

func (g *oracleGen) data() []byte {
	switch r := g.rng.IntN(100); {
	case r < 25:
		return nil
	case r < 32:
		return []byte{}
	case r < 90:
		return g.randomBytes(1 + g.rng.IntN(32))
	case r < 95:
		return g.randomBytes(oracleMaxDataBytes)
	default:
		return g.randomBytes(oracleMaxDataBytes + 1 + g.rng.IntN(40))
	}
}

func (g *oracleGen) perms() Perm { return Perm(1 + g.rng.IntN(int(PermAll))) }

func (g *oracleGen) acl() []ACL {
	anyone := func(p Perm) ACL { return ACL{p, SchemeWorld, "anyone"} }
	switch r := g.rng.IntN(1000); {
	case r < 450:
		return OpenACL()
	case r < 530:
		return ReadACL()
	case r < 610:
		return []ACL{{g.perms(), SchemeAuth, ""}}
	case r < 680:
		return []ACL{{PermAll, SchemeDigest, "alice:a1"}}
	case r < 740:
		return []ACL{anyone(PermRead), {PermAll, SchemeDigest, "bob:b1"}}
	case r < 790:
		return []ACL{{PermAll, SchemeAuth, ""}, anyone(PermRead | PermCreate)}
	case r < 830:
		return []ACL{anyone(PermAll), {PermAll, SchemeAuth, "ignored"}, anyone(PermAll)}
	case r < 870:
		return []ACL{anyone(g.perms())}
	case r < 996:
		invalid := [][]ACL{
			nil,
			{},
			{anyone(0)},
			{anyone(PermAll + 1)},
			{anyone(-1)},
			{{PermAll, SchemeWorld, "bob"}},
			{anyone(PermRead), {PermAll, SchemeDigest, "alice"}},
			{{PermAll, SchemeDigest, ":x"}},
			{{PermAll, SchemeDigest, "x:"}},
			{{PermAll, SchemeDigest, "a:b:c"}},
			{{PermAll, "ip", "10.0.0.1"}},
			{{PermAll, SchemeSuper, "admin"}},
			{{PermAll, "", ""}},
			{{PermAll, "World", "anyone"}},
		}
		return invalid[g.rng.IntN(len(invalid))]
	default:
		// A long ACL of distinct entries, just within or just over the
		// limit both before and after expansion.
		n := modelMaxACLEntries
		if g.chance(50) {
			n++
		}
		acl := make([]ACL, n)
		for i := range acl {
			acl[i] = ACL{PermRead, SchemeDigest, "u" + strconv.Itoa(i) + ":x"}
		}
		return acl
	}
}

func oracleDepth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func (g *oracleGen) name() string {
	if g.chance(10) {
		return g.seqNames[g.rng.IntN(len(g.seqNames))]
	}
	return g.names[g.rng.IntN(len(g.names))]
}

func (g *oracleGen) staticPath(maxDepth int) string {
	d := 1
	switch r := g.rng.IntN(100); {
	case r < 25:
		d = 1
	case r < 60:
		d = 2
	case r < 88:
		d = 3
	default:
		d = 4
	}
	d = min(d, maxDepth)
	p := "/"
	for range d {
		p = zpath.Join(p, g.name())
	}
	return p
}

func (g *oracleGen) livePath() string { return g.live[g.rng.IntN(len(g.live))] }

// parentPath is a path of depth at most 3, usually of a live node.
func (g *oracleGen) parentPath() string {
	for range 4 {
		if p := g.livePath(); oracleDepth(p) <= 3 {
			return p
		}
	}
	return g.staticPath(3)
}

// leaf is usually a live node without children.
func (g *oracleGen) leaf() string {
	for range 6 {
		p := g.livePath()
		if p != "/" && g.m.nodes[p].stat.NumChildren == 0 {
			return p
		}
	}
	return g.livePath()
}

// freshChild is usually a missing child of a live node.
func (g *oracleGen) freshChild() string {
	for range 6 {
		parent := g.parentPath()
		if _, ok := g.m.nodes[parent]; !ok {
			continue
		}
		p := zpath.Join(parent, g.name())
		if _, ok := g.m.nodes[p]; !ok {
			return p
		}
	}
	return g.path()
}

func (g *oracleGen) path() string {
	switch r := g.rng.IntN(100); {
	case r < 36:
		return g.staticPath(4)
	case r < 70:
		return g.livePath()
	case r < 84:
		return zpath.Join(g.parentPath(), g.name())
	case r < 90:
		return g.reserved[g.rng.IntN(len(g.reserved))]
	case r < 93:
		return "/"
	default:
		return g.badPaths[g.rng.IntN(len(g.badPaths))]
	}
}

func (g *oracleGen) seqPrefix() string {
	var parent string
	switch r := g.rng.IntN(100); {
	case r < 90:
		parent = g.parentPath()
	case r < 95:
		parent = zpath.Reserved
	default:
		return g.badPaths[g.rng.IntN(len(g.badPaths))]
	}
	switch r := g.rng.IntN(100); {
	case r < 70:
		return zpath.Join(parent, "s-")
	case r < 85:
		if parent == "/" {
			return "/"
		}
		return parent + "/"
	default:
		return parent // the node is a sibling: "/a" makes "/a0000000007"
	}
}

// version is right, -1, or wrong.
func (g *oracleGen) version(p string, acl bool) int32 {
	n, ok := g.m.nodes[p]
	cur := n.stat.Version
	if acl {
		cur = n.stat.Aversion
	}
	switch r := g.rng.IntN(100); {
	case r < 40:
		return -1
	case r < 80 && ok:
		return cur
	case r < 88:
		return cur + 1
	case r < 94:
		return -2
	default:
		return int32(g.rng.IntN(4))
	}
}

func (g *oracleGen) createOp(c *Command, aimed bool) *Create {
	op := &Create{Mode: g.mode(), Data: g.data(), ACL: g.acl(), Parents: g.chance(15)}
	if op.Mode.IsEphemeral() && c.Session == 0 && g.chance(85) {
		c.Session = g.openSession()
	}
	switch {
	case op.Mode.IsTTL():
		op.TTLMs = g.ttl()
	case g.chance(3):
		op.TTLMs = 1 + g.rng.Int64N(3000)
	}
	switch {
	case op.Mode.Valid() && op.Mode.IsSequential():
		op.Path = g.seqPrefix()
	case op.Parents && g.chance(60):
		op.Path = g.staticPath(4) // often with missing ancestors
	case c.System && g.chance(50):
		op.Path = g.reserved[g.rng.IntN(len(g.reserved))]
	case aimed:
		op.Path = g.freshChild()
	default:
		op.Path = g.path()
	}
	return op
}

func (g *oracleGen) deleteOp(aimed bool) *Delete {
	p := g.path()
	if aimed {
		p = g.leaf()
	}
	return &Delete{Path: p, Version: g.version(p, false)}
}

func (g *oracleGen) setDataOp(aimed bool) *SetData {
	p := g.path()
	if aimed {
		p = g.livePath()
	}
	return &SetData{Path: p, Data: g.data(), Version: g.version(p, false)}
}

func (g *oracleGen) checkOp(aimed bool) *Check {
	p := g.path()
	if aimed {
		p = g.livePath()
	}
	return &Check{Path: p, Version: g.version(p, false)}
}

func (g *oracleGen) setACLOp(aimed bool) *SetACL {
	p := g.path()
	if aimed {
		p = g.livePath()
	}
	return &SetACL{Path: p, ACL: g.acl(), Version: g.version(p, true)}
}

func (g *oracleGen) multiOp(c *Command) *Multi {
	ops := make([]Op, 1+g.rng.IntN(6))
	for i := range ops {
		aimed := g.chance(80)
		switch r := g.rng.IntN(100); {
		case r < 35:
			ops[i] = g.createOp(c, aimed)
		case r < 55:
			ops[i] = g.deleteOp(aimed)
		case r < 75:
			ops[i] = g.setDataOp(aimed)
		case r < 95:
			ops[i] = g.checkOp(aimed)
		default:
			ops[i] = g.notMultiOp()
		}
	}
	return &Multi{Ops: ops}
}

// notMultiOp is an op that a Multi may not hold.
func (g *oracleGen) notMultiOp() Op {
	switch g.rng.IntN(6) {
	case 0:
		return &SetACL{Path: g.livePath(), ACL: OpenACL(), Version: -1}
	case 1:
		return &Reap{Path: g.livePath()}
	case 2:
		return &Multi{Ops: []Op{&Check{Path: "/", Version: -1}}}
	case 3:
		return &CreateSession{ID: 2_000_000_000 + g.rng.Int64N(1000), TimeoutMs: 1000}
	case 4:
		return &CloseSession{ID: g.openSession()}
	default:
		return nil
	}
}

func (g *oracleGen) freshSessionID() int64 {
	id := g.nextSession
	g.nextSession++
	if g.chance(5) {
		id = -id // ZooKeeper's ids often have the top bit set
	}
	return id
}

func (g *oracleGen) createSessionOp() *CreateSession {
	op := &CreateSession{TimeoutMs: 1000 + g.rng.Int32N(29_000)}
	switch r := g.rng.IntN(100); {
	case r < 72:
		op.ID = g.freshSessionID()
	case r < 80:
		op.ID = 0
	case r < 90 && len(g.open) > 0:
		op.ID = g.openSession()
	case len(g.closed) > 0:
		op.ID = g.closed[g.rng.IntN(len(g.closed))]
	default:
		op.ID = g.freshSessionID()
	}
	if g.chance(8) {
		op.TimeoutMs = -g.rng.Int32N(2)
	}
	if g.chance(70) {
		op.PasswordDigest = g.randomBytes(16)
	}
	return op
}

func (g *oracleGen) closeSessionOp(c *Command) *CloseSession {
	op := &CloseSession{Expired: g.chance(50)}
	switch r := g.rng.IntN(100); {
	case r < 75 && len(g.open) > 0:
		op.ID = g.openSession()
	case r < 92:
		op.ID = g.staleSession()
	default:
		op.ID = 0
	}
	switch r := g.rng.IntN(100); {
	case r < 45:
		c.Session = op.ID // the client closes its own session
	case r < 90:
		c.Session = 0 // the leader expires it
	}
	return op
}

func (g *oracleGen) reapOp(c *Command) *Reap {
	c.System = g.chance(85)
	switch r := g.rng.IntN(100); {
	case r < 50:
		if cands := g.m.deletionCandidates(c.TimeMs, 8); len(cands) > 0 {
			return &Reap{Path: cands[g.rng.IntN(len(cands))]}
		}
		return &Reap{Path: g.livePath()}
	case r < 75:
		return &Reap{Path: g.livePath()}
	default:
		return &Reap{Path: g.path()}
	}
}

// ---- The harness ----

// oracle runs generated batches through the model and, unless tree is nil,
// the Tree, comparing everything.
type oracle struct {
	t        testing.TB
	seed     uint64
	m        *model
	gen      *oracleGen
	tree     *Tree
	readRng  *rand.Rand
	commands int
	nextFull int
	coverage map[string]int // "Op Code" → how often
}

func newOracle(t testing.TB, seed uint64, maxDataBytes int, tree *Tree) *oracle {
	m := newModel(maxDataBytes)
	return &oracle{
		t:        t,
		seed:     seed,
		m:        m,
		gen:      newOracleGen(seed, m),
		tree:     tree,
		readRng:  rand.New(rand.NewPCG(seed, 0x7265616473)),
		nextFull: oracleFullEvery,
		coverage: map[string]int{},
	}
}

func (o *oracle) fatalf(format string, args ...any) {
	o.t.Helper()
	o.t.Fatalf("oracle seed %d (replay: go test ./tree -run '^%s$' -oracle.seed=%d)\n%s",
		o.seed, o.t.Name(), o.seed, fmt.Sprintf(format, args...))
}

// run applies batches until at least n commands have been applied in all.
func (o *oracle) run(n int) {
	o.t.Helper()
	for o.commands < n {
		o.step()
	}
}

// step generates and applies one batch, then compares some reads, and the
// whole state every oracleFullEvery commands.
func (o *oracle) step() {
	o.t.Helper()
	size := 1 + o.gen.rng.IntN(oracleMaxBatch)
	entries := make([]Entry, size)
	want := make([]Result, size)
	for i := range entries {
		entries[i], want[i] = o.gen.next()
		if entries[i].Cmd != nil {
			o.commands++
			o.count(entries[i].Cmd, want[i])
		}
	}
	if o.tree == nil {
		if o.commands >= o.nextFull {
			if err := o.m.checkInvariants(); err != nil {
				o.fatalf("%v", err)
			}
			o.nextFull += oracleFullEvery
		}
		return
	}
	got, err := o.tree.Apply(entries)
	if err != nil {
		o.fatalf("Apply(entries %d..%d): %v", entries[0].Index, entries[size-1].Index, err)
	}
	if len(got) != size {
		o.fatalf("Apply(entries %d..%d) returned %d results, want %d", entries[0].Index, entries[size-1].Index, len(got), size)
	}
	for i := range entries {
		if d := oracleDiffResult(want[i], got[i]); d != "" {
			var trace strings.Builder
			for j := max(0, i-12); j < i; j++ {
				fmt.Fprintf(&trace, "  %s\n    → %s\n", oracleDescribeEntry(entries[j]), oracleFormatResult(want[j]))
			}
			o.fatalf("result of entry %d differs: %s\ncommand: %s\nwant: %s\ngot:  %s\npreceding commands of the batch (model results):\n%s",
				entries[i].Index, d, oracleDescribeEntry(entries[i]), oracleFormatResult(want[i]), oracleFormatResult(got[i]), trace.String())
		}
	}
	if a := o.tree.Applied(); a != o.m.applied {
		o.fatalf("Applied() = %d, want %d", a, o.m.applied)
	}
	o.randomReads(4 + o.readRng.IntN(20))
	if o.commands >= o.nextFull {
		o.fullCompare()
		o.nextFull += oracleFullEvery
	}
}

func (o *oracle) count(c *Command, r Result) {
	op := c.Op
	o.coverage[oracleOpName(op)+" "+r.Code.Name()]++
	if m, ok := op.(*Multi); ok {
		for i, sub := range m.Ops {
			if i < len(r.Ops) {
				o.coverage["Multi."+oracleOpName(sub)+" "+r.Ops[i].Code.Name()]++
			}
		}
	}
	if c.Seq != 0 {
		o.coverage["Seq "+r.Code.Name()]++
		if _, ok := op.(*Create); ok && r.Code == errcode.Ok && len(r.Events) == 0 {
			o.coverage["Seq create answered from its record"]++ // an applied create always has events
		}
	}
	switch op := op.(type) {
	case *CloseSession:
		if len(r.Events) > 0 {
			o.coverage["CloseSession with ephemerals"]++
		}
	case *Create:
		if len(r.Events) > 2 {
			o.coverage["Create with parents created"]++
		}
		if r.Code == errcode.Ok && zpath.IsReserved(r.Path) {
			o.coverage["Create in /arbor"]++
		}
		if r.Code == errcode.NodeExists && op.Mode.Valid() && op.Mode.IsSequential() {
			o.coverage["Create sequential NodeExists"]++
		}
	case *Multi:
		if r.Code == errcode.Ok && len(r.Events) > 2 {
			o.coverage["Multi Ok with several changes"]++
		}
	}
}

// sameErr compares a read's error with the model's (a Code or nil) and
// reports whether both succeeded.
func (o *oracle) sameErr(what string, want, got error) bool {
	o.t.Helper()
	switch {
	case want == nil && got == nil:
		return true
	case want == nil:
		o.fatalf("%s: error %v, want success", what, got)
	case got == nil:
		o.fatalf("%s: success, want %s", what, want.(errcode.Code).Name())
	case !errors.Is(got, want):
		o.fatalf("%s: error %v, want one matching %s", what, got, want.(errcode.Code).Name())
	}
	return false
}

func (o *oracle) sameStat(what string, want, got Stat) {
	o.t.Helper()
	if want != got {
		o.fatalf("%s: stat\n got %+v\nwant %+v", what, got, want)
	}
}

func (o *oracle) sameData(what string, want, got []byte) {
	o.t.Helper()
	if !bytes.Equal(want, got) || (want == nil) != (got == nil) {
		o.fatalf("%s: data %q (nil: %v), want %q (nil: %v)", what, got, got == nil, want, want == nil)
	}
}

func (o *oracle) sameStrings(what string, want, got []string) {
	o.t.Helper()
	if !slices.Equal(want, got) {
		o.fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// oracleSortedNames sorts a copy: the spec promises no order of children.
func oracleSortedNames(names []string) []string {
	return slices.Sorted(slices.Values(names))
}

// oracleWithRng runs a generator helper on another random source, so that
// reads do not shift the command stream.
func oracleWithRng[T any](g *oracleGen, rng *rand.Rand, f func() T) T {
	saved := g.rng
	g.rng = rng
	defer func() { g.rng = saved }()
	return f()
}

func (o *oracle) ids() []Identity { return oracleWithRng(o.gen, o.readRng, o.gen.identities) }

func (o *oracle) randomReads(n int) {
	o.t.Helper()
	rng := o.readRng
	for range n {
		switch k := rng.IntN(20); {
		case k < 4:
			p, ids := oracleWithRng(o.gen, rng, o.gen.path), o.ids()
			wd, ws, werr := o.m.get(p, ids)
			gd, gs, gerr := o.tree.Get(p, ids)
			what := fmt.Sprintf("Get(%q, %v)", p, ids)
			if o.sameErr(what, werr, gerr) {
				o.sameData(what, wd, gd)
				o.sameStat(what, ws, gs)
			}
		case k < 6:
			p := oracleWithRng(o.gen, rng, o.gen.path)
			ws, werr := o.m.exists(p)
			gs, gerr := o.tree.Exists(p)
			what := fmt.Sprintf("Exists(%q)", p)
			if o.sameErr(what, werr, gerr) {
				o.sameStat(what, ws, gs)
			}
		case k < 9:
			p, ids := oracleWithRng(o.gen, rng, o.gen.path), o.ids()
			wc, ws, werr := o.m.children(p, ids)
			gc, gs, gerr := o.tree.Children(p, ids)
			what := fmt.Sprintf("Children(%q, %v)", p, ids)
			if o.sameErr(what, werr, gerr) {
				o.sameStrings(what, wc, oracleSortedNames(gc))
				o.sameStat(what, ws, gs)
			}
		case k < 11:
			p, ids := oracleWithRng(o.gen, rng, o.gen.path), o.ids()
			wa, ws, werr := o.m.getACL(p, ids)
			ga, gs, gerr := o.tree.GetACL(p, ids)
			what := fmt.Sprintf("GetACL(%q, %v)", p, ids)
			if o.sameErr(what, werr, gerr) {
				if !slices.Equal(wa, ga) {
					o.fatalf("%s: ACL %v, want %v", what, ga, wa)
				}
				o.sameStat(what, ws, gs)
			}
		case k < 12:
			p, ids := oracleWithRng(o.gen, rng, o.gen.path), o.ids()
			wn, werr := o.m.countDescendants(p, ids)
			gn, gerr := o.tree.CountDescendants(p, ids)
			what := fmt.Sprintf("CountDescendants(%q, %v)", p, ids)
			if o.sameErr(what, werr, gerr) && wn != gn {
				o.fatalf("%s = %d, want %d", what, gn, wn)
			}
		case k < 13:
			session := oracleWithRng(o.gen, rng, o.gen.commandSession)
			prefixes := []string{"", "/", "/a", "/a/", "/b/c", "/c/a/s-", "/arbor"}
			prefix := prefixes[rng.IntN(len(prefixes))]
			o.compareEphemerals(session, prefix)
		case k < 16:
			ops := make([]ReadOp, 1+rng.IntN(6))
			for i := range ops {
				ops[i] = ReadOp{Kind: ReadKind(1 + rng.IntN(3)), Path: oracleWithRng(o.gen, rng, o.gen.path)}
			}
			ids := o.ids()
			want := o.m.readMulti(ops, ids)
			got, index, err := o.tree.ReadMulti(ops, ids)
			what := fmt.Sprintf("ReadMulti(%+v, %v)", ops, ids)
			if err != nil {
				o.fatalf("%s: %v", what, err)
			}
			if index != o.m.applied {
				o.fatalf("%s: index %d, want %d", what, index, o.m.applied)
			}
			o.compareReadResults(what, ops, want, got)
		case k < 17:
			o.compareSessions()
		case k < 18:
			id := oracleWithRng(o.gen, rng, o.gen.commandSession)
			ws, werr := o.m.session(id)
			gs, gerr := o.tree.Session(id)
			what := fmt.Sprintf("Session(%d)", id)
			if o.sameErr(what, werr, gerr) && !oracleSameSession(ws, gs) {
				o.fatalf("%s = %+v, want %+v", what, gs, ws)
			}
		default:
			now := o.gen.nowMs + rng.Int64N(6000) - 1000
			o.compareCandidates(now, 1+rng.IntN(20))
		}
	}
}

func (o *oracle) compareEphemerals(session int64, prefix string) {
	o.t.Helper()
	got, err := o.tree.Ephemerals(session, prefix)
	what := fmt.Sprintf("Ephemerals(%d, %q)", session, prefix)
	if err != nil {
		o.fatalf("%s: %v", what, err)
	}
	o.sameStrings(what, o.m.ephemerals(session, prefix), got)
}

func (o *oracle) compareReadResults(what string, ops []ReadOp, want, got []ReadResult) {
	o.t.Helper()
	if len(got) != len(want) {
		o.fatalf("%s: %d results, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		at := fmt.Sprintf("%s: result %d", what, i)
		if g.Code != w.Code {
			o.fatalf("%s: code %s, want %s", at, g.Code.Name(), w.Code.Name())
		}
		if w.Code != errcode.Ok {
			continue
		}
		o.sameStat(at, w.Stat, g.Stat)
		switch ops[i].Kind {
		case ReadGet:
			o.sameData(at, w.Data, g.Data)
		case ReadChildren:
			o.sameStrings(at, w.Children, oracleSortedNames(g.Children))
		}
	}
}

func oracleSameSession(a, b Session) bool {
	return a.ID == b.ID && a.TimeoutMs == b.TimeoutMs && bytes.Equal(a.PasswordDigest, b.PasswordDigest)
}

func (o *oracle) compareSessions() {
	o.t.Helper()
	got, err := o.tree.Sessions()
	if err != nil {
		o.fatalf("Sessions(): %v", err)
	}
	want := o.m.sessionList()
	if !slices.EqualFunc(want, got, oracleSameSession) {
		o.fatalf("Sessions():\n got %+v\nwant %+v", got, want)
	}
}

func (o *oracle) compareCandidates(nowMs int64, limit int) {
	o.t.Helper()
	got, err := o.tree.DeletionCandidates(nowMs, limit)
	what := fmt.Sprintf("DeletionCandidates(%d, %d)", nowMs, limit)
	if err != nil {
		o.fatalf("%s: %v", what, err)
	}
	o.sameStrings(what, o.m.deletionCandidates(nowMs, limit), got)
}

// fullCompare walks both trees from "/" as a super user and compares every
// node, then the sessions, their ephemerals and the deletion candidates.
func (o *oracle) fullCompare() {
	o.t.Helper()
	if err := o.m.checkInvariants(); err != nil {
		o.fatalf("%v", err)
	}
	super := []Identity{{SchemeSuper, "admin"}}
	visited := 0
	var walk func(p string)
	walk = func(p string) {
		visited++
		wd, ws, werr := o.m.get(p, super)
		gd, gs, gerr := o.tree.Get(p, super)
		o.sameErr("full: Get "+p, werr, gerr)
		o.sameData("full: Get "+p, wd, gd)
		o.sameStat("full: Get "+p, ws, gs)
		es, eerr := o.tree.Exists(p)
		o.sameErr("full: Exists "+p, nil, eerr)
		o.sameStat("full: Exists "+p, ws, es)
		wa, _, _ := o.m.getACL(p, super)
		ga, as, aerr := o.tree.GetACL(p, super)
		o.sameErr("full: GetACL "+p, nil, aerr)
		if !slices.Equal(wa, ga) {
			o.fatalf("full: GetACL %s = %v, want %v", p, ga, wa)
		}
		o.sameStat("full: GetACL "+p, ws, as)
		wc, _, _ := o.m.children(p, super)
		gc, cs, cerr := o.tree.Children(p, super)
		o.sameErr("full: Children "+p, nil, cerr)
		o.sameStrings("full: Children "+p, wc, oracleSortedNames(gc))
		o.sameStat("full: Children "+p, ws, cs)
		for _, name := range wc {
			walk(zpath.Join(p, name))
		}
	}
	walk("/")
	if visited != len(o.m.nodes) {
		o.fatalf("full: model walk reached %d of its %d nodes", visited, len(o.m.nodes))
	}
	n, err := o.tree.CountDescendants("/", super)
	if o.sameErr("full: CountDescendants /", nil, err) && n != int64(visited-1) {
		o.fatalf("full: CountDescendants(/) = %d, want %d", n, visited-1)
	}
	o.compareSessions()
	for _, s := range o.m.sessionList() {
		o.compareEphemerals(s.ID, "")
	}
	o.compareCandidates(o.gen.nowMs, 1<<20)
}

// fingerprint hashes the model's state (not its applied index).
func (m *model) fingerprint() [32]byte {
	h := sha256.New()
	var b []byte
	for _, p := range slices.Sorted(maps.Keys(m.nodes)) {
		n := m.nodes[p]
		b = fmt.Appendf(b[:0], "%q %q %v %+v %d %d %d\n", p, n.data, n.acl, n.stat, n.creations, n.mode, n.ttlMs)
		h.Write(b)
	}
	for _, s := range m.sessionList() {
		b = binary.AppendVarint(b[:0], s.ID)
		b = fmt.Appendf(b, " %d %x\n", s.TimeoutMs, s.PasswordDigest)
		h.Write(b)
	}
	return [32]byte(h.Sum(nil))
}

// ---- Formatting and diffs ----

func oracleOpName(op Op) string {
	switch op.(type) {
	case *Create:
		return "Create"
	case *Delete:
		return "Delete"
	case *SetData:
		return "SetData"
	case *Check:
		return "Check"
	case *SetACL:
		return "SetACL"
	case *Multi:
		return "Multi"
	case *CreateSession:
		return "CreateSession"
	case *CloseSession:
		return "CloseSession"
	case *Reap:
		return "Reap"
	case nil:
		return "nil"
	}
	return fmt.Sprintf("%T", op)
}

func oracleClip(s string) string {
	const limit = 1500
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

func oracleDescribeOp(op Op) string {
	var s string
	switch op := op.(type) {
	case *Create:
		s = fmt.Sprintf("Create%+v", *op)
	case *Delete:
		s = fmt.Sprintf("Delete%+v", *op)
	case *SetData:
		s = fmt.Sprintf("SetData%+v", *op)
	case *Check:
		s = fmt.Sprintf("Check%+v", *op)
	case *SetACL:
		s = fmt.Sprintf("SetACL%+v", *op)
	case *CreateSession:
		s = fmt.Sprintf("CreateSession%+v", *op)
	case *CloseSession:
		s = fmt.Sprintf("CloseSession%+v", *op)
	case *Reap:
		s = fmt.Sprintf("Reap%+v", *op)
	case *Multi:
		parts := make([]string, len(op.Ops))
		for i, sub := range op.Ops {
			parts[i] = oracleDescribeOp(sub)
		}
		s = "Multi[" + strings.Join(parts, "; ") + "]"
	default:
		s = oracleOpName(op)
	}
	return oracleClip(s)
}

func oracleDescribeEntry(e Entry) string {
	if e.Cmd == nil {
		return fmt.Sprintf("#%d (no command)", e.Index)
	}
	c := e.Cmd
	return fmt.Sprintf("#%d id=%v session=%d timeMs=%d system=%v ids=%v %s",
		e.Index, c.ID, c.Session, c.TimeMs, c.System, c.Identities, oracleDescribeOp(c.Op))
}

func oracleFormatOpResult(r OpResult) string {
	s := r.Code.Name()
	if r.Path != "" {
		s += " path=" + r.Path
	}
	if r.Stat != (Stat{}) {
		s += fmt.Sprintf(" stat=%+v", r.Stat)
	}
	return s
}

func oracleFormatResult(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "index=%d id=%v %s", r.Index, r.ID, oracleFormatOpResult(r.OpResult))
	if r.Ops != nil {
		parts := make([]string, len(r.Ops))
		for i, op := range r.Ops {
			parts[i] = oracleFormatOpResult(op)
		}
		fmt.Fprintf(&b, " ops=[%s]", strings.Join(parts, "; "))
	}
	for _, ev := range r.Events {
		fmt.Fprintf(&b, "\n      %v %s zxid=%d acl=%s", ev.Type, ev.Path, ev.Zxid, oracleClip(fmt.Sprint(ev.ACL)))
	}
	return b.String()
}

func oracleDiffOpResult(want, got OpResult) string {
	var d []string
	if want.Code != got.Code {
		d = append(d, fmt.Sprintf("code %s, want %s", got.Code.Name(), want.Code.Name()))
	}
	if want.Path != got.Path {
		d = append(d, fmt.Sprintf("path %q, want %q", got.Path, want.Path))
	}
	if want.Stat != got.Stat {
		d = append(d, fmt.Sprintf("stat %+v, want %+v", got.Stat, want.Stat))
	}
	return strings.Join(d, "; ")
}

// oracleDiffResult describes how got differs from want, or returns "".
func oracleDiffResult(want, got Result) string {
	var d []string
	if want.Index != got.Index {
		d = append(d, fmt.Sprintf("index %d, want %d", got.Index, want.Index))
	}
	if want.ID != got.ID {
		d = append(d, fmt.Sprintf("id %v, want %v", got.ID, want.ID))
	}
	if s := oracleDiffOpResult(want.OpResult, got.OpResult); s != "" {
		d = append(d, s)
	}
	if len(want.Ops) != len(got.Ops) {
		d = append(d, fmt.Sprintf("%d ops, want %d", len(got.Ops), len(want.Ops)))
	} else {
		for i := range want.Ops {
			if s := oracleDiffOpResult(want.Ops[i], got.Ops[i]); s != "" {
				d = append(d, fmt.Sprintf("ops[%d]: %s", i, s))
			}
		}
	}
	if len(want.Events) != len(got.Events) {
		d = append(d, fmt.Sprintf("%d events, want %d", len(got.Events), len(want.Events)))
	} else {
		for i, w := range want.Events {
			g := got.Events[i]
			if w.Type != g.Type || w.Path != g.Path || w.Zxid != g.Zxid || !slices.Equal(w.ACL, g.ACL) {
				d = append(d, fmt.Sprintf("events[%d]: %v %s zxid=%d acl=%v, want %v %s zxid=%d acl=%v",
					i, g.Type, g.Path, g.Zxid, g.ACL, w.Type, w.Path, w.Zxid, w.ACL))
			}
		}
	}
	return oracleClip(strings.Join(d, "; "))
}

// ---- The tests ----

// TestOracle applies at least -oracle.commands random commands to a Tree
// and to the model, comparing every result, random reads after every batch
// and the whole state every oracleFullEvery commands and at the end.
func TestOracle(t *testing.T) {
	seed := oracleSeed(t, 0)
	opts := Options{MaxDataBytes: oracleMaxDataBytes}
	o := newOracle(t, seed, opts.MaxDataBytes, newTestTree(t, opts))
	o.run(*flagOracleCommands)
	o.fullCompare()
	o.logCoverage()
}

func (o *oracle) logCoverage() {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(o.coverage)) {
		fmt.Fprintf(&b, "  %-40s %d\n", k, o.coverage[k])
	}
	o.t.Logf("%d commands, %d nodes and %d sessions at the end; outcomes:\n%s",
		o.commands, len(o.m.nodes), len(o.m.sessions), b.String())
}

// TestOracleDeterminism runs the same sequence into two fresh trees: their
// digests must agree after every batch, and must differ wherever the
// model's states differ.
func TestOracleDeterminism(t *testing.T) {
	seed := oracleSeed(t, 0)
	const commands = 20_000
	type checkpoint struct {
		digest Digest
		state  [32]byte
	}
	run := func() []checkpoint {
		o := newOracle(t, seed, 0, newTestTree(t, Options{}))
		var out []checkpoint
		for o.commands < commands {
			o.step()
			d, err := o.tree.Digest()
			if err != nil {
				o.fatalf("Digest(): %v", err)
			}
			if d.Index != o.m.applied {
				o.fatalf("Digest().Index = %d, want %d", d.Index, o.m.applied)
			}
			out = append(out, checkpoint{d, o.m.fingerprint()})
		}
		o.fullCompare()
		return out
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("seed %d: %d batches, then %d", seed, len(a), len(b))
	}
	stateOf := map[[32]byte][32]byte{} // digest sum → model state
	for i := range a {
		if a[i].digest != b[i].digest {
			t.Fatalf("seed %d: batch %d: digest %v in the first run, %v in the second", seed, i, a[i].digest, b[i].digest)
		}
		if s, ok := stateOf[a[i].digest.Sum]; ok && s != a[i].state {
			t.Fatalf("seed %d: batch %d: digest %v also names a different earlier state", seed, i, a[i].digest)
		}
		stateOf[a[i].digest.Sum] = a[i].state
	}
}

// TestOracleReopen closes and reopens the store at random points: the
// applied index and digest survive, and the sequence continues to match the
// model.
func TestOracleReopen(t *testing.T) {
	seed := oracleSeed(t, 0)
	const commands = 20_000
	fs := vfs.NewMem()
	opts := Options{MaxDataBytes: oracleMaxDataBytes}
	var db *pebble.DB
	t.Cleanup(func() {
		if db != nil {
			db.Close()
		}
	})
	open := func() *Tree {
		t.Helper()
		var err error
		db, err = pebble.Open("db", &pebble.Options{FS: fs})
		if err != nil {
			t.Fatalf("seed %d: pebble.Open: %v", seed, err)
		}
		tr, err := Open(db, opts)
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		return tr
	}
	o := newOracle(t, seed, opts.MaxDataBytes, open())
	pick := rand.New(rand.NewPCG(seed, 0x72656f70656e))
	for _, at := range []int{1 + pick.IntN(commands/3), commands/3 + pick.IntN(commands/3)} {
		o.run(at)
		applied := o.tree.Applied()
		before, err := o.tree.Digest()
		if err != nil {
			o.fatalf("Digest() before close: %v", err)
		}
		if err := db.Close(); err != nil {
			o.fatalf("closing Pebble: %v", err)
		}
		db = nil
		o.tree = open()
		if a := o.tree.Applied(); a != applied || a != o.m.applied {
			o.fatalf("after reopen Applied() = %d, want %d", a, applied)
		}
		after, err := o.tree.Digest()
		if err != nil {
			o.fatalf("Digest() after reopen: %v", err)
		}
		if after != before {
			o.fatalf("after reopen at index %d: digest %v, want %v", applied, after, before)
		}
		o.fullCompare()
	}
	o.run(commands)
	o.fullCompare()
}

// TestOracleGeneratorCoverage runs the generator against the model alone
// (so it runs before the Tree exists) and checks that the command stream
// reaches every outcome the oracle is meant to compare.
func TestOracleGeneratorCoverage(t *testing.T) {
	seed := oracleSeed(t, 1)
	o := newOracle(t, seed, oracleMaxDataBytes, nil)
	o.run(100_000)
	if err := o.m.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	o.logCoverage()
	want := map[string][]errcode.Code{
		"Create": {errcode.Ok, errcode.BadArguments, errcode.InvalidACL, errcode.NoAuth, errcode.NoNode,
			errcode.NodeExists, errcode.NoChildrenForEphemerals, errcode.SessionExpired},
		"Delete":        {errcode.Ok, errcode.BadArguments, errcode.NoAuth, errcode.NoNode, errcode.BadVersion, errcode.NotEmpty, errcode.SessionExpired},
		"SetData":       {errcode.Ok, errcode.BadArguments, errcode.NoAuth, errcode.NoNode, errcode.BadVersion},
		"Check":         {errcode.Ok, errcode.BadArguments, errcode.NoAuth, errcode.NoNode, errcode.BadVersion},
		"SetACL":        {errcode.Ok, errcode.BadArguments, errcode.InvalidACL, errcode.NoAuth, errcode.NoNode, errcode.BadVersion},
		"Multi":         {errcode.Ok, errcode.BadArguments, errcode.NoNode, errcode.NodeExists, errcode.BadVersion, errcode.SessionExpired},
		"Multi.Create":  {errcode.Ok, errcode.RuntimeInconsistency},
		"Multi.SetACL":  {errcode.BadArguments},
		"Multi.nil":     {errcode.BadArguments},
		"CreateSession": {errcode.Ok, errcode.BadArguments},
		"CloseSession":  {errcode.Ok, errcode.SessionExpired},
		"Reap":          {errcode.Ok, errcode.NoAuth, errcode.BadArguments, errcode.NoNode, errcode.NotEmpty, errcode.BadVersion},
	}
	for op, codes := range want {
		for _, c := range codes {
			if o.coverage[op+" "+c.Name()] == 0 {
				t.Errorf("seed %d: no %s ended with %s", seed, op, c.Name())
			}
		}
	}
	for _, k := range []string{"CloseSession with ephemerals", "Create with parents created",
		"Multi Ok with several changes", "Create in /arbor", "Create sequential NodeExists",
		"Seq Ok", "Seq NodeExists", "Seq BadArguments", "Seq Throttled", "Seq create answered from its record"} {
		if o.coverage[k] == 0 {
			t.Errorf("seed %d: never saw %s", seed, k)
		}
	}
}
