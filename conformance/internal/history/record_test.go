package history

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tick is a fake clock that advances one nanosecond per reading.
func tick() func() time.Duration {
	var n atomic.Int64
	return func() time.Duration { return time.Duration(n.Add(1)) }
}

func TestRecorder(t *testing.T) {
	r := NewRecorder[string, int](tick())
	a := r.Invoke(1, "a") // 1
	b := r.Invoke(2, "b") // 2
	b.Return(20, Fail)    // 3
	a.Return(10, OK)      // 4
	c := r.Invoke(1, "c") // 5
	got := r.Ops()        // 6: c is still in flight
	want := []Op[string, int]{
		{Client: 1, Input: "a", Call: 1, Return: 4, Output: 10, Outcome: OK},
		{Client: 2, Input: "b", Call: 2, Return: 3, Output: 20, Outcome: Fail},
		{Client: 1, Input: "c", Call: 5, Return: 6, Outcome: Unknown},
	}
	if len(got) != len(want) {
		t.Fatalf("ops = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("op %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	c.Return(30, Unknown)
	if op := r.Ops()[2]; op.Return != 7 || op.Output != 30 {
		t.Errorf("returned op = %+v", op)
	}
}

func TestRecorderMisuse(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *Recorder[string, int])
	}{
		{"overlapping ops of one client", func(r *Recorder[string, int]) {
			r.Invoke(1, "a")
			r.Invoke(1, "b")
		}},
		{"returned twice", func(r *Recorder[string, int]) {
			p := r.Invoke(1, "a")
			p.Return(1, OK)
			p.Return(1, OK)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.do(NewRecorder[string, int](nil))
		})
	}
}

// Concurrent clients, each one operation at a time, under -race.
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder[int, int](nil)
	const clients, each = 8, 200
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				r.Invoke(c, i).Return(i, OK)
			}
		})
	}
	wg.Wait()
	ops := r.Ops()
	if len(ops) != clients*each {
		t.Fatalf("%d ops, want %d", len(ops), clients*each)
	}
	last := make(map[int]Op[int, int])
	for _, op := range ops {
		if op.Return < op.Call {
			t.Fatalf("op returned before its call: %v", op)
		}
		if prev, ok := last[op.Client]; ok && (op.Input != prev.Input+1 || op.Call < prev.Return) {
			t.Fatalf("client %d: %v after %v", op.Client, op, prev)
		}
		last[op.Client] = op
	}
}

func TestSaveLoad(t *testing.T) {
	r := NewRecorder[RegisterInput, RegisterOutput](tick())
	r.Invoke(3, cas("k", "v", 2)).Return(ver(3), OK)
	r.Invoke(4, get("k"))
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadOps[RegisterInput, RegisterOutput](filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	ops := r.Ops()
	if len(back) != 2 || back[0] != ops[0] || back[1].Outcome != Unknown || back[1].Input != ops[1].Input {
		t.Fatalf("loaded %v, want %v", back, ops)
	}
	if _, err := LoadOps[int, int](filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("loaded a missing file")
	}
}

func TestOutcomeText(t *testing.T) {
	for _, o := range []Outcome{Unknown, OK, Fail} {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back Outcome
		if err := json.Unmarshal(b, &back); err != nil || back != o {
			t.Fatalf("%v -> %s -> %v, %v", o, b, back, err)
		}
	}
	if _, err := json.Marshal(Outcome(9)); err == nil {
		t.Fatal("marshalled an invalid outcome")
	}
	var o Outcome
	if err := json.Unmarshal([]byte(`"maybe"`), &o); err == nil {
		t.Fatal("unmarshalled an invalid outcome")
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		s    Summary
		want string
	}{
		{Summary{Ops: 1843, Faults: 12}, "conformance: 1843 ops, 12 faults, 0 violations"},
		{Summary{Ops: 1, Faults: 1, Violations: 1}, "conformance: 1 ops, 1 faults, 1 violations"},
		{Summary{}, "conformance: 0 ops, 0 faults, 0 violations"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}
