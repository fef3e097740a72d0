package history_test

import (
	"fmt"
	"time"

	"github.com/arbor-coord/arbor/conformance/internal/history"
)

// Two clients write one key; the second's write times out, and a read
// later finds it applied. The history is linearizable.
func Example() {
	var ticks time.Duration
	clock := func() time.Duration { ticks++; return ticks } // a fake clock
	rec := history.NewRecorder[history.RegisterInput, history.RegisterOutput](clock)

	p := rec.Invoke(1, history.RegisterInput{Kind: history.Set, Key: "/k", Value: "a"})
	p.Return(history.RegisterOutput{Version: 1}, history.OK)
	p = rec.Invoke(2, history.RegisterInput{Kind: history.CAS, Key: "/k", Value: "b", Version: 1})
	p.Return(history.RegisterOutput{}, history.Unknown) // timed out: the workload's mapping
	p = rec.Invoke(1, history.RegisterInput{Kind: history.Get, Key: "/k"})
	p.Return(history.RegisterOutput{Value: "b", Version: 2}, history.OK)

	ops := rec.Ops()
	res := history.CheckRegister(ops, time.Minute)
	fmt.Println(res)
	fmt.Println(history.Summary{Ops: len(ops), Faults: 1})
	// Output:
	// linearizable: 3 ops (3 checked, 1 indeterminate, 0 ignored)
	// conformance: 3 ops, 1 faults, 0 violations
}
