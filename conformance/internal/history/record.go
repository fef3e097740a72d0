package history

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Outcome is what became of an operation, as far as its client knows.
type Outcome uint8

const (
	// Unknown is an indeterminate outcome: the operation may or may not
	// have taken effect, and may take effect later. It is the zero value,
	// so an operation whose outcome was never set is indeterminate.
	Unknown Outcome = iota
	// OK is an acknowledged success.
	OK
	// Fail is a definite failure: the operation certainly had no effect.
	Fail
)

var outcomeNames = [...]string{Unknown: "unknown", OK: "ok", Fail: "fail"}

// String returns "ok", "fail" or "unknown".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// MarshalText encodes the outcome as its String.
func (o Outcome) MarshalText() ([]byte, error) {
	if int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("history: invalid outcome %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes what MarshalText encodes.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, name := range outcomeNames {
		if string(b) == name {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("history: invalid outcome %q", b)
}

// Op is one recorded operation. Call and Return are durations since the
// recorder's start; for an Unknown operation, Return is when its client
// stopped waiting, and the checkers take it to be the end of time.
type Op[I, O any] struct {
	Client  int           `json:"client"`
	Input   I             `json:"input"`
	Call    time.Duration `json:"call"`
	Return  time.Duration `json:"return"`
	Output  O             `json:"output"`
	Outcome Outcome       `json:"outcome"`
}

// String describes the operation for a violation report.
func (o Op[I, O]) String() string {
	s := fmt.Sprintf("client %d %s [%v, %v]", o.Client, show(o.Input), o.Call, o.Return)
	if o.Outcome == OK {
		return fmt.Sprintf("%s -> %s", s, show(o.Output))
	}
	return s + " " + o.Outcome.String()
}

// show formats v with %v, but quotes strings.
func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// Recorder records the operations of concurrent clients with inputs of type
// I and outputs of type O. It is safe for concurrent use.
type Recorder[I, O any] struct {
	now func() time.Duration

	mu       sync.Mutex
	ops      []Op[I, O]
	done     []bool
	inFlight map[int]bool // clients with an operation in flight
}

// NewRecorder returns an empty Recorder that reads the time from now. A nil
// now reads the monotonic clock, as the time since NewRecorder was called.
func NewRecorder[I, O any](now func() time.Duration) *Recorder[I, O] {
	if now == nil {
		start := time.Now()
		now = func() time.Duration { return time.Since(start) }
	}
	return &Recorder[I, O]{now: now, inFlight: make(map[int]bool)}
}

// Now returns the recorder's time, for records taken outside operations
// (the end of a session, a watcher's lifetime).
func (r *Recorder[I, O]) Now() time.Duration { return r.now() }

// Pending is an operation invoked and not yet returned.
type Pending[I, O any] struct {
	r *Recorder[I, O]
	i int
}

// Invoke records that client calls an operation with input in, now. It
// panics if the client has an operation in flight: a client's operations
// never overlap.
func (r *Recorder[I, O]) Invoke(client int, in I) *Pending[I, O] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[client] {
		panic(fmt.Sprintf("history: client %d invoked an operation with another in flight", client))
	}
	r.inFlight[client] = true
	r.ops = append(r.ops, Op[I, O]{Client: client, Input: in, Call: r.now()})
	r.done = append(r.done, false)
	return &Pending[I, O]{r: r, i: len(r.ops) - 1}
}

// Return records that the operation returned out with outcome, now. It
// panics if called twice.
func (p *Pending[I, O]) Return(out O, outcome Outcome) {
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done[p.i] {
		panic(fmt.Sprintf("history: operation %d returned twice", p.i))
	}
	op := &r.ops[p.i]
	op.Return, op.Output, op.Outcome = r.now(), out, outcome
	r.done[p.i] = true
	delete(r.inFlight, op.Client)
}

// Ops returns a copy of the operations in the order they were invoked. An
// operation still in flight is returned as Unknown, with the current time
// as its Return.
func (r *Recorder[I, O]) Ops() []Op[I, O] {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]Op[I, O], len(r.ops))
	copy(ops, r.ops)
	now := r.now()
	for i := range ops {
		if !r.done[i] {
			ops[i].Return, ops[i].Outcome = now, Unknown
		}
	}
	return ops
}

// HistoryFile is the name of the file that Save writes.
const HistoryFile = "history.json"

// Save writes Ops as JSON to HistoryFile in dir, creating dir if needed.
func (r *Recorder[I, O]) Save(dir string) error {
	return saveOps(dir, r.Ops())
}

// savedHistory is the layout of HistoryFile.
type savedHistory[I, O any] struct {
	Ops []Op[I, O] `json:"ops"`
}

func saveOps[I, O any](dir string, ops []Op[I, O]) error {
	b, err := json.MarshalIndent(savedHistory[I, O]{Ops: ops}, "", "\t")
	if err != nil {
		return fmt.Errorf("history: encode: %w", err)
	}
	return writeFile(dir, HistoryFile, append(b, '\n'))
}

// LoadOps reads a HistoryFile written by Save, to check it again.
func LoadOps[I, O any](path string) ([]Op[I, O], error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("history: load: %w", err)
	}
	var h savedHistory[I, O]
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("history: load %s: %w", path, err)
	}
	return h.Ops, nil
}

func writeFile(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("history: save: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		return fmt.Errorf("history: save: %w", err)
	}
	return nil
}
