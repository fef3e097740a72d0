package tree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// write returns a command of session 5 carrying seq and its acknowledgement.
func write(seq, low uint64, op Op) Command {
	return Command{Session: 5, Seq: seq, LowestUnacked: low, Op: op}
}

func TestExactlyOnceRetryReturnsRecordedResult(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	h.must(mk("/q"))
	seqCreate := &Create{Path: "/q/x-", ACL: OpenACL(), Mode: PersistentSequential}
	first := h.apply(write(1, 1, seqCreate))
	if first.Code != errcode.Ok || first.Path != "/q/x-0000000000" || len(first.Events) != 2 {
		t.Fatalf("first: %+v", first)
	}
	retry := h.apply(write(1, 1, seqCreate)) // the response was lost; the client resends
	if retry.Code != errcode.Ok || retry.Path != first.Path || retry.Stat != first.Stat || len(retry.Events) != 0 {
		t.Fatalf("retry: %+v, want the first result without events", retry)
	}
	if kids, _, _ := h.tr.Children("/q", nil); len(kids) != 1 {
		t.Fatalf("retry applied again: %v", kids)
	}
	// A failure is recorded too: the retry must not turn NodeExists into Ok.
	h.must(mk("/dup"))
	failed := h.apply(write(2, 1, mk("/dup")))
	h.must(&Delete{Path: "/dup", Version: -1})
	if again := h.apply(write(2, 1, mk("/dup"))); failed.Code != errcode.NodeExists || again.Code != errcode.NodeExists || h.exists("/dup") {
		t.Fatalf("failed write: %s, retried: %s", failed.Code.Name(), again.Code.Name())
	}
	// Multi results are recorded op by op.
	m := &Multi{Ops: []Op{mk("/q/m"), &Check{Path: "/q", Version: 7}}}
	r1 := h.apply(write(3, 1, m))
	r2 := h.apply(write(3, 1, m))
	if r1.Code != errcode.BadVersion || !reflect.DeepEqual(r1.Ops, r2.Ops) || r2.Code != r1.Code {
		t.Fatalf("multi: %+v then %+v", r1, r2)
	}
}

func TestExactlyOnceWithinOneRun(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	c := write(1, 1, &Create{Path: "/x-", ACL: OpenACL(), Mode: PersistentSequential})
	i := h.tr.Applied()
	res, err := h.tr.Apply([]Entry{{Index: i + 1, Cmd: &c}, {Index: i + 2, Cmd: &c}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Path != res[1].Path || len(res[1].Events) != 0 {
		t.Fatalf("same run: %+v / %+v", res[0], res[1])
	}
	if n, _ := h.tr.CountDescendants("/", nil); n != 2 { // /arbor and one x-
		t.Fatalf("%d nodes", n)
	}
}

func TestExactlyOnceAcknowledgement(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	for seq := uint64(1); seq <= 3; seq++ {
		h.apply(write(seq, 1, mk("/n"+string(rune('0'+seq)))))
	}
	// Acknowledging up to 3 forgets 1 and 2: resending them breaks the promise.
	if r := h.apply(write(4, 3, mk("/n4"))); r.Code != errcode.Ok {
		t.Fatal(r.Code.Name())
	}
	if s, _ := h.tr.Session(5); s.LowestUnacked != 3 {
		t.Fatalf("watermark %d", s.LowestUnacked)
	}
	for _, seq := range []uint64{1, 2} {
		if r := h.apply(write(seq, 1, mk("/n1"))); r.Code != errcode.BadArguments {
			t.Fatalf("acknowledged seq %d: %s", seq, r.Code.Name())
		}
	}
	if r := h.apply(write(3, 3, mk("/n3"))); r.Code != errcode.Ok || r.Path != "/n3" {
		t.Fatalf("unacknowledged seq 3 must still answer from its record: %+v", r)
	}
	// Only the unacknowledged results (3 and 4) stay in the state.
	if got := recordedSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{3, 4}) {
		t.Fatalf("recorded results %v, want [3 4]", got)
	}
	// A jump of the acknowledgement past the window forgets by range.
	h.apply(write(4+MaxUnackedWrites, 4+MaxUnackedWrites, mk("/far")))
	if got := recordedSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{4 + MaxUnackedWrites}) {
		t.Fatalf("after a long jump: %v", got)
	}
}

// recordedSeqs lists the seqs of every result the session has recorded:
// the one inline in its record and those under result keys.
func recordedSeqs(t *testing.T, tr *Tree, id int64) []uint64 {
	t.Helper()
	out := resultSeqs(t, tr, id)
	v, err := getBytes(tr.db, sessionKey(id))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeSession(id, v)
	if err != nil {
		t.Fatal(err)
	}
	if rec.inlineSeq != 0 {
		out = append(out, rec.inlineSeq)
	}
	slices.Sort(out)
	return out
}

// resultSeqs lists the seqs of the session's recorded results in the store.
func resultSeqs(t *testing.T, tr *Tree, id int64) []uint64 {
	t.Helper()
	prefix := resultPrefix(id)
	var out []uint64
	err := scan(tr.db, prefix, prefixUpper(prefix), func(k, _ []byte) error {
		out = append(out, binary.BigEndian.Uint64(k[len(prefix):]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExactlyOnceErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want errcode.Code
	}{
		{"lowest above seq", write(2, 3, mk("/a")), errcode.BadArguments},
		{"lowest zero", write(2, 0, mk("/a")), errcode.BadArguments},
		{"lowest without seq", write(0, 1, mk("/a")), errcode.BadArguments},
		{"no session", Command{Seq: 1, LowestUnacked: 1, Op: mk("/a")}, errcode.BadArguments},
		{"session op", write(1, 1, &CloseSession{ID: 5}), errcode.BadArguments},
		{"closed session", Command{Session: 6, Seq: 1, LowestUnacked: 1, Op: mk("/a")}, errcode.SessionExpired},
		{"too far ahead", write(MaxUnackedWrites+1, 1, mk("/a")), errcode.Throttled},
		{"just within", write(MaxUnackedWrites, 1, mk("/a")), errcode.Ok},
		{"ack moves the window", write(5000, 4000, mk("/a")), errcode.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
			if r := h.apply(tt.cmd); r.Code != tt.want {
				t.Fatalf("%s, want %s", r.Code.Name(), tt.want.Name())
			}
		})
	}
}

func TestExactlyOnceCloseForgets(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	h.apply(write(1, 1, mk("/a")))
	h.must(&CloseSession{ID: 5})
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000}) // an id reused after close starts clean
	if r := h.apply(write(1, 1, mk("/b"))); r.Code != errcode.Ok || r.Path != "/b" {
		t.Fatalf("new session's seq 1 answered from the old one: %+v", r)
	}
	h.must(&CloseSession{ID: 5})
	if got := resultSeqs(t, h.tr, 5); len(got) != 0 {
		t.Fatalf("results outlive their session: %v", got)
	}
	if n, _ := h.tr.CountDescendants("/", nil); n != 3 {
		t.Fatalf("%d nodes", n)
	}
}

// A closed-loop client (each write acknowledges the one before) keeps its
// one retryable result in the session record: no result key is written.
func TestExactlyOnceClosedLoopInline(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	h.must(mk("/q"))
	seqCreate := &Create{Path: "/q/x-", ACL: OpenACL(), Mode: PersistentSequential}
	var last Result
	for seq := uint64(1); seq <= 50; seq++ {
		last = h.apply(write(seq, seq, seqCreate))
		if last.Code != errcode.Ok {
			t.Fatalf("seq %d: %s", seq, last.Code.Name())
		}
	}
	if got := resultSeqs(t, h.tr, 5); len(got) != 0 {
		t.Fatalf("result keys %v, want none", got)
	}
	if got := recordedSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{50}) {
		t.Fatalf("recorded %v, want [50]", got)
	}
	h.tr.sessCache.clear() // the retry reads the record from the store
	if r := h.apply(write(50, 50, seqCreate)); r.Path != last.Path || r.Stat != last.Stat || len(r.Events) != 0 {
		t.Fatalf("retry: %+v, want %+v", r, last)
	}
	if kids, _, _ := h.tr.Children("/q", nil); len(kids) != 50 {
		t.Fatalf("%d children, want 50", len(kids))
	}
}

// Pipelined writes spill past the inline slot to result keys; every one
// answers its retry until acknowledged, and the acknowledgement removes
// both kinds.
func TestExactlyOncePipelined(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	first := make(map[uint64]Result)
	cmds := make([]Command, 6)
	for i := range cmds {
		seq := uint64(i + 1)
		cmds[i] = write(seq, 1, mk(fmt.Sprintf("/p%d", seq)))
	}
	i := h.tr.Applied()
	entries := make([]Entry, 0, len(cmds))
	for j := range cmds[:4] { // four in one run, two in runs of their own
		entries = append(entries, Entry{Index: i + uint64(j) + 1, Cmd: &cmds[j]})
	}
	res, err := h.tr.Apply(entries)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range res {
		first[uint64(j+1)] = r
	}
	first[5], first[6] = h.apply(cmds[4]), h.apply(cmds[5])
	if got := recordedSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("recorded %v", got)
	}
	for _, cached := range []bool{true, false} {
		if !cached {
			h.tr.sessCache.clear()
		}
		for seq := uint64(1); seq <= 6; seq++ {
			if r := h.apply(cmds[seq-1]); r.Path != first[seq].Path || r.Code != errcode.Ok {
				t.Fatalf("retry of %d (cached %v): %+v, want %s", seq, cached, r, first[seq].Path)
			}
		}
	}
	// Acknowledge up to 5 with a new write: 5, 6 and 7 stay.
	h.apply(write(7, 5, mk("/p7")))
	if got := recordedSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{5, 6, 7}) {
		t.Fatalf("after the acknowledgement: %v", got)
	}
	h.apply(write(8, 8, mk("/p8")))
	if got, keys := recordedSeqs(t, h.tr, 5), resultSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{8}) || len(keys) != 0 {
		t.Fatalf("after acknowledging all: %v (keys %v)", got, keys)
	}
}

// A store written before results moved inline has session records of
// format 1 and every result under a result key: it is read, retried from,
// and acknowledged as before, and its records move to the new format as
// they are written.
func TestExactlyOnceFormat1Record(t *testing.T) {
	h := newHarness(t)
	h.must(&CreateSession{ID: 5, TimeoutMs: 1000})
	h.must(mk("/a"))
	h.must(mk("/b"))
	// Rewrite the state as the old format had it: watermark 3, results 3
	// and 4 under keys.
	old := map[uint64]Result{
		3: {OpResult: OpResult{Path: "/a", Stat: h.stat("/a")}},
		4: {OpResult: OpResult{Path: "/b", Stat: h.stat("/b")}},
	}
	b := h.tr.db.NewBatch()
	rec := []byte{sessionFormat1}
	rec = binary.AppendVarint(rec, 1000)
	rec = binary.AppendUvarint(rec, 0)
	rec = binary.AppendUvarint(rec, 3)
	for _, err := range []error{
		b.Set(sessionKey(5), rec, nil),
		b.Set(resultKey(5, 3), appendResult(nil, &Result{OpResult: old[3].OpResult}), nil),
		b.Set(resultKey(5, 4), appendResult(nil, &Result{OpResult: old[4].OpResult}), nil),
		b.Commit(pebble.NoSync),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	h.tr.sessCache.clear()
	if s, err := h.tr.Session(5); err != nil || s.LowestUnacked != 3 || s.TimeoutMs != 1000 {
		t.Fatalf("format 1 record: %+v, %v", s, err)
	}
	if r := h.apply(write(4, 3, mk("/b"))); r.Code != errcode.Ok || r.Stat != old[4].Stat {
		t.Fatalf("retry of 4 from a format 1 store: %+v", r)
	}
	// A new write acknowledging 3 forgets it, keeps 4, and takes the
	// inline slot.
	if r := h.apply(write(5, 4, mk("/c"))); r.Code != errcode.Ok {
		t.Fatal(r.Code.Name())
	}
	v, err := getBytes(h.tr.db, sessionKey(5))
	if err != nil || v[0] != sessionFormat {
		t.Fatalf("record not rewritten in format %d: %v, %v", sessionFormat, v, err)
	}
	if got, keys := recordedSeqs(t, h.tr, 5), resultSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{4, 5}) || !reflect.DeepEqual(keys, []uint64{4}) {
		t.Fatalf("recorded %v, keys %v; want [4 5] and [4]", got, keys)
	}
	if r := h.apply(write(4, 4, mk("/b"))); r.Code != errcode.Ok || r.Stat != old[4].Stat {
		t.Fatalf("retry of 4 after the rewrite: %+v", r)
	}
}

func TestSessionRecordCorrupt(t *testing.T) {
	good := appendSession(nil, &sessionRecord{Session: Session{ID: 5, TimeoutMs: 1000, LowestUnacked: 3},
		inlineSeq: 3, inline: appendResult(nil, &Result{OpResult: OpResult{Path: "/a"}}), keyedHigh: 9})
	if rec, err := decodeSession(5, good); err != nil || rec.inlineSeq != 3 || rec.keyedHigh != 9 || rec.LowestUnacked != 3 {
		t.Fatalf("round trip: %+v, %v", rec, err)
	}
	below := appendSession(nil, &sessionRecord{Session: Session{ID: 5, LowestUnacked: 4}, inlineSeq: 3, inline: good[:0]})
	for name, v := range map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-2],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"inline below":   below,
		"inline corrupt": appendSession(nil, &sessionRecord{Session: Session{ID: 5, LowestUnacked: 1}, inlineSeq: 1, inline: []byte{7}}),
	} {
		if _, err := decodeSession(5, v); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
	}
}
