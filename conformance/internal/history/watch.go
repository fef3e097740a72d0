package history

import (
	"fmt"
	"time"
)

// WatchEvent is an event received by a watcher.
type WatchEvent struct {
	Type    string        `json:"type"`
	Path    string        `json:"path"`
	Zxid    uint64        `json:"zxid"`
	CatchUp bool          `json:"catchUp,omitempty"`
	At      time.Duration `json:"at"` // when it arrived
}

// Watcher is what one persistent recursive watch saw. It is filled by the
// watcher's own goroutine; all times are a Recorder's Now.
type Watcher struct {
	Name string `json:"name"`
	// Start is a time after the watch was registered; End is when the
	// watcher stopped. Stop a watcher only once it has seen the event of a
	// last write made after every write it must see (events arrive after
	// their writes are acknowledged), else the missing ones are reported.
	Start  time.Duration `json:"start"`
	End    time.Duration `json:"end"`
	Events []WatchEvent  `json:"events"` // in arrival order
	// Lost and Resumed are the times the watcher's connection was lost
	// and resumed (after which catch-up events arrive), for the reports.
	Lost    []time.Duration `json:"lost,omitempty"`
	Resumed []time.Duration `json:"resumed,omitempty"`
}

// CheckWatches checks what watchers saw against the writes under their
// prefix. Each write's Input is the path written and the Output of an
// acknowledged write its zxid. Every write under the prefix, setup
// included, must be in writes.
//
// The rules, per watcher:
//
//   - "phantom": an event's zxid is that of no write to its path. A
//     catch-up event carries the node's current zxid, which must be a
//     write's too. When a path has indeterminate writes, whose zxids are
//     not known, any zxid that is no acknowledged write's is taken as one
//     of theirs.
//   - "duplicate": a path and zxid seen twice in events that are not
//     catch-up.
//   - "order": an event that is not catch-up has a zxid no greater than an
//     earlier such event's (catch-up events may go back).
//   - "missed": an acknowledged write invoked after the watcher's Start
//     and returned before its End, neither seen as an event with its zxid
//     nor covered by a catch-up event for its path at that zxid or later.
func CheckWatches(writes []Op[string, uint64], watchers []Watcher) []Violation {
	acked := make(map[uint64]int) // zxid -> index in writes
	indeterminate := make(map[string]bool)
	for i, op := range writes {
		switch op.Outcome {
		case OK:
			acked[op.Output] = i
		case Unknown:
			indeterminate[op.Input] = true
		}
	}
	var vs []Violation
	for _, w := range watchers {
		vs = append(vs, checkWatcher(writes, acked, indeterminate, w)...)
	}
	return vs
}

// pathZxid names one change.
type pathZxid struct {
	path string
	zxid uint64
}

func checkWatcher(writes []Op[string, uint64], acked map[uint64]int, indeterminate map[string]bool, w Watcher) []Violation {
	var vs []Violation
	seen := make(map[pathZxid]int)      // live events, to their index
	caughtUp := make(map[string]uint64) // path -> highest catch-up zxid
	highest := -1                       // the live event with the highest zxid so far
	for i, ev := range w.Events {
		if j, ok := acked[ev.Zxid]; ok && writes[j].Input != ev.Path {
			vs = append(vs, violationf("phantom", "%s: zxid %d was %s", w.describe(i), ev.Zxid, describe(j, writes[j])))
		} else if !ok && !indeterminate[ev.Path] {
			vs = append(vs, violationf("phantom", "%s: no write to %s has zxid %d", w.describe(i), ev.Path, ev.Zxid))
		}
		if ev.CatchUp {
			caughtUp[ev.Path] = max(caughtUp[ev.Path], ev.Zxid)
			continue
		}
		key := pathZxid{ev.Path, ev.Zxid}
		if j, ok := seen[key]; ok {
			vs = append(vs, violationf("duplicate", "%s repeats %s", w.describe(i), w.describe(j)))
			continue
		}
		seen[key] = i
		if highest >= 0 && ev.Zxid <= w.Events[highest].Zxid {
			vs = append(vs, violationf("order", "%s arrived after %s", w.describe(i), w.describe(highest)))
			continue
		}
		highest = i
	}
	for i, op := range writes {
		if op.Outcome != OK || op.Call <= w.Start || op.Return >= w.End {
			continue
		}
		if _, ok := seen[pathZxid{op.Input, op.Output}]; ok || caughtUp[op.Input] >= op.Output {
			continue
		}
		vs = append(vs, violationf("missed", "watcher %s (%v to %v) missed %s%s",
			w.Name, w.Start, w.End, describe(i, op), w.outagesDuring(op.Call, op.Return)))
	}
	return vs
}

// describe names event i of the watcher.
func (w Watcher) describe(i int) string {
	ev := w.Events[i]
	kind := ""
	if ev.CatchUp {
		kind = " catch-up"
	}
	return fmt.Sprintf("watcher %s event %d (%s%s %s zxid %d at %v)", w.Name, i, ev.Type, kind, ev.Path, ev.Zxid, ev.At)
}

// outagesDuring describes the watcher's lost connections that overlap
// [from, to], each paired with the first resume after it.
func (w Watcher) outagesDuring(from, to time.Duration) string {
	s := ""
	for _, lost := range w.Lost {
		resumed, ok := time.Duration(0), false
		for _, r := range w.Resumed {
			if r >= lost && (!ok || r < resumed) {
				resumed, ok = r, true
			}
		}
		if lost > to || ok && resumed < from {
			continue
		}
		if ok {
			s += fmt.Sprintf("; disconnected %v to %v", lost, resumed)
		} else {
			s += fmt.Sprintf("; disconnected from %v, never resumed", lost)
		}
	}
	return s
}
