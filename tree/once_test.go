package tree

import (
	"encoding/binary"
	"reflect"
	"testing"

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
	if got := resultSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{3, 4}) {
		t.Fatalf("recorded results %v, want [3 4]", got)
	}
	// A jump of the acknowledgement past the window forgets by range.
	h.apply(write(4+MaxUnackedWrites, 4+MaxUnackedWrites, mk("/far")))
	if got := resultSeqs(t, h.tr, 5); !reflect.DeepEqual(got, []uint64{4 + MaxUnackedWrites}) {
		t.Fatalf("after a long jump: %v", got)
	}
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
