package history

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// Histories of a simulated correct register, with concurrent clients,
// writes that time out before or after they apply, and writes that apply
// after their client gave up, are all linearizable. A failure prints its
// seed; ARBOR_SEED=N replays one.
func TestCheckRegisterOracle(t *testing.T) {
	seeds := make([]uint64, 300)
	for i := range seeds {
		seeds[i] = rand.Uint64()
	}
	if s := os.Getenv("ARBOR_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ARBOR_SEED: %v", err)
		}
		seeds = []uint64{n}
	}
	for _, seed := range seeds {
		ops := simulateRegister(seed, 6, 3, 200)
		if res := CheckRegister(ops, time.Minute); res.Verdict != Linearizable {
			t.Fatalf("seed %d: %v for a correct register\n%v", seed, res, ops)
		}
	}
}

// simulateRegister runs clients against correct registers in steps of
// one tick and records their history.
func simulateRegister(seed uint64, clients, keys, steps int) []regOp {
	rng := rand.New(rand.NewPCG(seed, seed))
	type key struct {
		value   string
		version int32
	}
	state := make(map[string]key)
	// apply runs in on the state and returns its outcome and output.
	apply := func(in RegisterInput) (Outcome, RegisterOutput) {
		s := state[in.Key]
		switch {
		case in.Kind == Get:
			return OK, RegisterOutput{s.value, s.version}
		case in.Kind == CAS && s.version != in.Version:
			return Fail, RegisterOutput{}
		}
		s = key{in.Value, s.version + 1}
		state[in.Key] = s
		return OK, RegisterOutput{Version: s.version}
	}
	type inFlight struct {
		p       *Pending[RegisterInput, RegisterOutput]
		in      RegisterInput
		applied bool
		outcome Outcome
		out     RegisterOutput
	}
	var now time.Duration
	rec := NewRecorder[RegisterInput, RegisterOutput](func() time.Duration { return now })
	running := make([]*inFlight, clients)
	var lingering []RegisterInput // given up on, may still apply
	for step := range steps {
		now = time.Duration(step)
		if len(lingering) > 0 && rng.IntN(4) == 0 {
			i := rng.IntN(len(lingering))
			apply(lingering[i])
			lingering = append(lingering[:i], lingering[i+1:]...)
		}
		c := rng.IntN(clients)
		op := running[c]
		switch {
		case op == nil:
			k := fmt.Sprintf("k%d", rng.IntN(keys))
			in := RegisterInput{Kind: Get, Key: k}
			switch rng.IntN(3) {
			case 1:
				in = RegisterInput{Kind: Set, Key: k, Value: fmt.Sprintf("v%d", step)}
			case 2:
				in = RegisterInput{Kind: CAS, Key: k, Value: fmt.Sprintf("v%d", step), Version: state[k].version - int32(rng.IntN(2))}
			}
			running[c] = &inFlight{p: rec.Invoke(c, in), in: in}
		case !op.applied && rng.IntN(8) == 0: // times out before it applies
			if op.in.Kind != Get && rng.IntN(2) == 0 {
				lingering = append(lingering, op.in)
			}
			op.p.Return(RegisterOutput{}, Unknown)
			running[c] = nil
		case !op.applied:
			op.applied = true
			op.outcome, op.out = apply(op.in)
		default:
			if rng.IntN(8) == 0 { // times out after it applied
				op.outcome, op.out = Unknown, RegisterOutput{}
			}
			op.p.Return(op.out, op.outcome)
			running[c] = nil
		}
	}
	return rec.Ops()
}
