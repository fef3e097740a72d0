package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type regOp = Op[RegisterInput, RegisterOutput]

// at builds an operation of client c called at time call and returned at
// ret (in abstract ticks).
func at(c int, call, ret time.Duration, in RegisterInput, out RegisterOutput, o Outcome) regOp {
	return regOp{Client: c, Input: in, Call: call, Return: ret, Output: out, Outcome: o}
}

func get(k string) RegisterInput    { return RegisterInput{Kind: Get, Key: k} }
func set(k, v string) RegisterInput { return RegisterInput{Kind: Set, Key: k, Value: v} }
func cas(k, v string, ver int32) RegisterInput {
	return RegisterInput{Kind: CAS, Key: k, Value: v, Version: ver}
}
func val(v string, ver int32) RegisterOutput { return RegisterOutput{Value: v, Version: ver} }
func ver(ver int32) RegisterOutput           { return RegisterOutput{Version: ver} }

func TestCheckRegister(t *testing.T) {
	tests := []struct {
		name string
		ops  []regOp
		want Verdict
	}{
		{"empty", nil, Linearizable},
		{"sequential", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(1, 2, 3, get("k"), val("a", 1), OK),
			at(1, 4, 5, cas("k", "b", 1), ver(2), OK),
			at(1, 6, 7, cas("k", "c", 1), RegisterOutput{}, Fail),
			at(1, 8, 9, get("k"), val("b", 2), OK),
		}, Linearizable},
		{"concurrent overlapping writes and reads", []regOp{
			at(1, 0, 10, set("k", "a"), ver(2), OK),
			at(2, 1, 9, set("k", "b"), ver(1), OK),
			at(3, 2, 3, get("k"), val("", 0), OK),
			at(3, 4, 5, get("k"), val("b", 1), OK),
			at(4, 5, 12, get("k"), val("a", 2), OK),
			at(3, 11, 12, get("k"), val("a", 2), OK),
		}, Linearizable},
		{"failed reads and sets are ignored", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Fail),
			at(2, 2, 3, get("k"), val("junk", 9), Fail),
			at(3, 2, 3, get("k"), RegisterOutput{}, Unknown),
			at(1, 4, 5, get("k"), val("", 0), OK),
		}, Linearizable},
		{"keys are independent", []regOp{
			at(1, 0, 1, set("k1", "a"), ver(1), OK),
			at(2, 0, 1, set("k2", "b"), ver(1), OK),
			at(1, 2, 3, get("k2"), val("b", 1), OK),
			at(2, 2, 3, get("k1"), val("a", 1), OK),
		}, Linearizable},
		{"unknown set observed by a read after it returned", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
			at(2, 5, 6, get("k"), val("a", 1), OK),
		}, Linearizable},
		{"unknown set that never applied", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
			at(2, 5, 6, get("k"), val("", 0), OK),
			at(2, 7, 8, set("k", "b"), ver(1), OK),
			at(2, 9, 10, get("k"), val("b", 1), OK),
		}, Linearizable},
		{"unknown set that applied late", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
			at(2, 2, 3, get("k"), val("", 0), OK),
			at(2, 5, 6, get("k"), val("a", 1), OK),
		}, Linearizable},
		{"the client's next op overlaps its unknown one", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
			at(1, 2, 3, set("k", "b"), ver(1), OK),
			at(2, 4, 5, get("k"), val("a", 2), OK),
		}, Linearizable},
		{"unknown cas that applied", []regOp{
			at(1, 0, 1, cas("k", "x", 0), RegisterOutput{}, Unknown),
			at(2, 3, 4, get("k"), val("x", 1), OK),
		}, Linearizable},
		{"unknown cas on a stale version has no effect", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(1, 2, 3, cas("k", "x", 0), RegisterOutput{}, Unknown),
			at(2, 4, 5, get("k"), val("a", 1), OK),
		}, Linearizable},

		{"stale read after an acked set", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(2, 2, 3, get("k"), val("", 0), OK),
		}, NotLinearizable},
		{"lost acked write", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(1, 2, 3, set("k", "b"), ver(2), OK),
			at(2, 4, 5, get("k"), val("a", 1), OK),
		}, NotLinearizable},
		{"read goes back in time", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(2, 2, 3, get("k"), val("a", 1), OK),
			at(3, 4, 5, get("k"), val("", 0), OK),
		}, NotLinearizable},
		{"cas succeeded twice on one version", []regOp{
			at(1, 0, 1, cas("k", "x", 0), ver(1), OK),
			at(2, 2, 3, cas("k", "y", 0), ver(1), OK),
		}, NotLinearizable},
		{"concurrent cas succeeded twice on one version", []regOp{
			at(1, 0, 5, cas("k", "x", 0), ver(1), OK),
			at(2, 1, 4, cas("k", "y", 0), ver(1), OK),
		}, NotLinearizable},
		{"read of a value never written", []regOp{
			at(1, 0, 1, set("k", "a"), ver(1), OK),
			at(2, 2, 3, get("k"), val("zz", 1), OK),
		}, NotLinearizable},
		{"unknown write observed, then undone", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
			at(2, 2, 3, get("k"), val("a", 1), OK),
			at(2, 4, 5, get("k"), val("", 0), OK),
		}, NotLinearizable},
		{"cas failed though the version matched", []regOp{
			at(1, 0, 1, cas("k", "x", 0), RegisterOutput{}, Fail),
			at(2, 2, 3, get("k"), val("", 0), OK),
		}, NotLinearizable},
		{"set skipped a version", []regOp{
			at(1, 0, 1, set("k", "a"), ver(2), OK),
		}, NotLinearizable},
		{"failed set took effect", []regOp{
			at(1, 0, 1, set("k", "a"), RegisterOutput{}, Fail),
			at(2, 2, 3, get("k"), val("a", 1), OK),
		}, NotLinearizable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := CheckRegister(tt.ops, 10*time.Second)
			if res.Verdict != tt.want {
				t.Fatalf("verdict = %v, want %v", res, tt.want)
			}
			if res.Ops != len(tt.ops) || res.Checked+res.Ignored != res.Ops {
				t.Fatalf("counts = %v for %d ops", res, len(tt.ops))
			}
		})
	}
}

func TestCheckRegisterCounts(t *testing.T) {
	res := CheckRegister([]regOp{
		at(1, 0, 1, set("k", "a"), RegisterOutput{}, Unknown),
		at(2, 0, 1, cas("k", "b", 0), RegisterOutput{}, Unknown),
		at(3, 0, 1, get("k"), RegisterOutput{}, Fail),
		at(4, 0, 1, set("k", "c"), RegisterOutput{}, Fail),
		at(5, 0, 1, cas("k", "d", 7), RegisterOutput{}, Fail),
		at(6, 0, 1, get("k"), val("", 0), OK),
	}, 0)
	want := RegisterResult{Verdict: Linearizable, Ops: 6, Checked: 4, Indeterminate: 2, Ignored: 2}
	if got := res.String(); got != want.String() {
		t.Fatalf("result = %s, want %s", got, want)
	}
}

// Save writes the history and a visualization that names the operations.
func TestRegisterResultSave(t *testing.T) {
	ops := []regOp{
		at(1, 0, 1, set("k", "a"), ver(1), OK),
		at(2, 2, 3, get("k"), val("", 0), OK),
		at(3, 2, 3, set("k", "b"), RegisterOutput{}, Unknown),
	}
	res := CheckRegister(ops, 0)
	if res.Verdict != NotLinearizable {
		t.Fatalf("verdict = %v", res)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if err := res.Save(dir); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`set(k, \"a\")`, `get(k)`, "op 1"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %s", want)
		}
	}
	back, err := LoadOps[RegisterInput, RegisterOutput](filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(ops) || back[2] != ops[2] || back[0] != ops[0] {
		t.Fatalf("loaded %v, want %v", back, ops)
	}
	if again := CheckRegister(back, 0); again.Verdict != NotLinearizable {
		t.Fatalf("the saved history checks %v", again)
	}
}
