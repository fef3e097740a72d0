package history

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// RegisterKind is the kind of a register operation.
type RegisterKind string

// The register operations. Every key is created with the value "" at
// version 0 before the run, and never deleted.
const (
	// Get reads a key: Output is its value and version.
	Get RegisterKind = "get"
	// Set writes Value unconditionally: Output.Version is the new version.
	Set RegisterKind = "set"
	// CAS writes Value if the key's version is Version (ZooKeeper's
	// setData with a version): Output.Version is the new version. It
	// fails definitely (BadVersion) if the version differed.
	CAS RegisterKind = "cas"
)

// RegisterInput is the input of a register operation. Written values must
// be unique within a run.
type RegisterInput struct {
	Kind    RegisterKind `json:"kind"`
	Key     string       `json:"key"`
	Value   string       `json:"value,omitempty"`   // Set and CAS
	Version int32        `json:"version,omitempty"` // CAS: the expected version
}

// String returns the operation as a call, e.g. cas(k1, "v7", 3).
func (in RegisterInput) String() string {
	switch in.Kind {
	case Get:
		return fmt.Sprintf("get(%s)", in.Key)
	case Set:
		return fmt.Sprintf("set(%s, %q)", in.Key, in.Value)
	default:
		return fmt.Sprintf("%s(%s, %q, %d)", in.Kind, in.Key, in.Value, in.Version)
	}
}

// RegisterOutput is the output of an acknowledged register operation.
type RegisterOutput struct {
	Value   string `json:"value,omitempty"` // Get
	Version int32  `json:"version"`
}

// String returns the output as "value"@version.
func (out RegisterOutput) String() string { return fmt.Sprintf("%q@%d", out.Value, out.Version) }

// Verdict is the answer of the linearizability check.
type Verdict string

// The verdicts.
const (
	Linearizable    Verdict = "linearizable"
	NotLinearizable Verdict = "not linearizable"
	TimedOut        Verdict = "timed out" // no violation found in time
)

// RegisterResult is the result of CheckRegister.
type RegisterResult struct {
	Verdict       Verdict
	Ops           int // operations in the history
	Checked       int // operations given to the linearizability checker
	Indeterminate int // of those, writes with an Unknown outcome
	Ignored       int // failed or indeterminate gets and failed sets

	ops  []Op[RegisterInput, RegisterOutput]
	info porcupine.LinearizationInfo
}

// String summarises the result on one line.
func (r RegisterResult) String() string {
	return fmt.Sprintf("%s: %d ops (%d checked, %d indeterminate, %d ignored)",
		r.Verdict, r.Ops, r.Checked, r.Indeterminate, r.Ignored)
}

// VisualizationFile is the name of the file with porcupine's HTML
// visualization that RegisterResult.Save writes.
const VisualizationFile = "linearizability.html"

// Save writes the checked history to HistoryFile and porcupine's
// visualization of the (partial) linearizations, which shows where a
// non-linearizable history goes wrong, to VisualizationFile in dir.
func (r RegisterResult) Save(dir string) error {
	if err := saveOps(dir, r.ops); err != nil {
		return err
	}
	path := filepath.Join(dir, VisualizationFile)
	if err := porcupine.VisualizePath(registerModel(), r.info, path); err != nil {
		return fmt.Errorf("history: visualize %s: %w", path, err)
	}
	return nil
}

// CheckRegister checks that the register operations in ops are
// linearizable, key by key, with porcupine, giving up after timeout (0: no
// limit).
//
// Failed and indeterminate gets and failed sets are ignored: they tell
// nothing. A failed CAS is a read that found another version. An
// indeterminate Set or CAS is checked as if it returned at the end of time
// with whatever output fits, so it may take effect at any point after its
// call, or never; a CAS that takes effect applies only if the version
// matches then.
func CheckRegister(ops []Op[RegisterInput, RegisterOutput], timeout time.Duration) RegisterResult {
	res := RegisterResult{Ops: len(ops), ops: ops}
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.Call+1, op.Return+1)
	}
	// A client whose operation is indeterminate may be running it still
	// while it invokes its next one: its later operations are drawn as
	// another client's in the visualization.
	type epoch struct{ client, n int }
	ids := make(map[epoch]int)
	epochs := make(map[int]int)
	var checked []porcupine.Operation
	for i, op := range ops {
		in := op.Input
		if in.Kind != Get && in.Kind != Set && in.Kind != CAS {
			panic(fmt.Sprintf("history: op %d has unknown register kind %q", i, in.Kind))
		}
		if op.Outcome != OK && (in.Kind == Get || in.Kind == Set && op.Outcome == Fail) {
			res.Ignored++
			continue
		}
		e := epoch{op.Client, epochs[op.Client]}
		id, ok := ids[e]
		if !ok {
			id = len(ids)
			ids[e] = id
		}
		ret := op.Return
		if op.Outcome == Unknown {
			ret = end
			epochs[op.Client]++
			res.Indeterminate++
		}
		checked = append(checked, porcupine.Operation{
			ClientId: id,
			Input:    in,
			Call:     int64(op.Call),
			Output:   registerResult{op.Outcome, op.Output},
			Return:   int64(ret),
			Metadata: i,
		})
	}
	res.Checked = len(checked)
	verdict, info := porcupine.CheckOperationsVerbose(registerModel(), checked, timeout)
	res.info = info
	switch verdict {
	case porcupine.Ok:
		res.Verdict = Linearizable
	case porcupine.Illegal:
		res.Verdict = NotLinearizable
	default:
		res.Verdict = TimedOut
	}
	return res
}

// registerResult is the output of an operation given to porcupine.
type registerResult struct {
	outcome Outcome
	out     RegisterOutput
}

// registerState is the state of one key.
type registerState struct {
	value   string
	version int32
}

// registerModel is the sequential specification of a key, partitioned by
// key.
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			index := make(map[string]int)
			var parts [][]porcupine.Operation
			for _, op := range ops {
				key := op.Input.(RegisterInput).Key
				i, ok := index[key]
				if !ok {
					i = len(parts)
					index[key] = i
					parts = append(parts, nil)
				}
				parts[i] = append(parts[i], op)
			}
			return parts
		},
		Init: func() any { return registerState{} },
		Step: func(state, input, output any) (bool, any) {
			s, in, res := state.(registerState), input.(RegisterInput), output.(registerResult)
			return stepRegister(s, in, res)
		},
		DescribeOperation: func(input, output any) string {
			in, res := input.(RegisterInput), output.(registerResult)
			if res.outcome != OK {
				return fmt.Sprintf("%v -> %v", in, res.outcome)
			}
			if in.Kind == Get {
				return fmt.Sprintf("%v -> %v", in, res.out)
			}
			return fmt.Sprintf("%v -> @%d", in, res.out.Version)
		},
		DescribeState: func(state any) string {
			s := state.(registerState)
			return fmt.Sprintf("%q@%d", s.value, s.version)
		},
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return fmt.Sprintf("op %d", info.(int))
		},
	}
}

// stepRegister is the register's sequential specification: whether op can
// take effect in state s with its recorded outcome, and the state after it.
func stepRegister(s registerState, in RegisterInput, res registerResult) (bool, registerState) {
	next := registerState{value: in.Value, version: s.version + 1}
	switch {
	case in.Kind == Get && res.outcome == OK:
		return res.out.Value == s.value && res.out.Version == s.version, s
	case in.Kind == Set && res.outcome == OK:
		return res.out.Version == next.version, next
	case in.Kind == Set && res.outcome == Unknown:
		return true, next
	case in.Kind == CAS && res.outcome == OK:
		return s.version == in.Version && res.out.Version == next.version, next
	case in.Kind == CAS && res.outcome == Fail:
		return s.version != in.Version, s
	case in.Kind == CAS && res.outcome == Unknown:
		if s.version == in.Version {
			return true, next
		}
		return true, s
	}
	panic(fmt.Sprintf("history: register operation %v with outcome %v", in, res.outcome))
}
