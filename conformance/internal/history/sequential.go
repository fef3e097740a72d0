package history

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// CheckSequential checks the creates of sequential children under one
// parent. Each create's Input is the data it wrote, unique in the run; the
// Output of an acknowledged create is the name it returned (a path, or just
// the child's name). children is the parent's children listed after the
// run, each name (or path) with its data. Every create of the run must be
// in creates.
//
// The rules, in the order reported:
//
//   - "bad-name": an acknowledged create returned a name without a
//     ZooKeeper sequence suffix ("n-0000000042").
//   - "lost-write": an acknowledged create's child is missing, or holds
//     other data.
//   - "duplicate-name": two acknowledged creates returned the same name.
//   - "applied-twice": one create's data is under two names, even if its
//     outcome was Unknown: exactly-once is broken.
//   - "failed-applied": a child holds the data of a create that failed.
//   - "phantom": a child holds data that no create wrote.
//   - "order": create a returned before create b was invoked, but a's
//     sequence number is not below b's ("same client" if one client made
//     both: its acknowledged creates must be numbered in invocation order).
func CheckSequential(creates []Op[string, string], children map[string]string) []Violation {
	var vs []Violation
	names := make(map[string]string, len(children)) // child name -> data
	for name, data := range children {
		names[baseName(name)] = data
	}
	byData := make(map[string]int, len(creates)) // data -> index in creates
	acked := make([]seqCreate, 0, len(creates))
	for i, op := range creates {
		byData[op.Input] = i
		if op.Outcome != OK {
			continue
		}
		name := baseName(op.Output)
		n, ok := sequenceNumber(name)
		if !ok {
			vs = append(vs, violationf("bad-name", "%s returned no sequential name", describe(i, op)))
			continue
		}
		acked = append(acked, seqCreate{i, name, n})
	}

	for _, c := range acked {
		op := creates[c.index]
		if data, ok := names[c.name]; !ok {
			vs = append(vs, violationf("lost-write", "%s: %s is missing", describe(c.index, op), c.name))
		} else if data != op.Input {
			vs = append(vs, violationf("lost-write", "%s: %s holds %q", describe(c.index, op), c.name, data))
		}
	}

	first := make(map[string]seqCreate) // name -> the first create that returned it
	for _, c := range acked {
		if f, ok := first[c.name]; ok {
			vs = append(vs, violationf("duplicate-name", "%s and %s returned the same name",
				describe(f.index, creates[f.index]), describe(c.index, creates[c.index])))
			continue
		}
		first[c.name] = c
	}

	dataNames := make(map[string][]string) // data -> names holding it
	for _, name := range slices.Sorted(maps.Keys(names)) {
		dataNames[names[name]] = append(dataNames[names[name]], name)
	}
	for _, data := range slices.Sorted(maps.Keys(dataNames)) {
		held := dataNames[data]
		i, ok := byData[data]
		switch {
		case !ok:
			vs = append(vs, violationf("phantom", "%s hold %q, which no create wrote", strings.Join(held, ", "), data))
		case len(held) > 1:
			vs = append(vs, violationf("applied-twice", "%s is under %s", describe(i, creates[i]), strings.Join(held, ", ")))
		case creates[i].Outcome == Fail:
			vs = append(vs, violationf("failed-applied", "%s is under %s", describe(i, creates[i]), held[0]))
		}
	}
	return append(vs, checkSequenceOrder(creates, acked)...)
}

// seqCreate is an acknowledged create with its sequence number.
type seqCreate struct {
	index int // in the history
	name  string
	n     int64
}

// checkSequenceOrder reports each acknowledged create b numbered at or
// below the highest-numbered create a that returned before b was invoked.
func checkSequenceOrder(creates []Op[string, string], acked []seqCreate) []Violation {
	byReturn := slices.Clone(acked)
	slices.SortStableFunc(byReturn, func(a, b seqCreate) int {
		return cmp.Compare(creates[a.index].Return, creates[b.index].Return)
	})
	byCall := slices.Clone(acked)
	slices.SortStableFunc(byCall, func(a, b seqCreate) int {
		return cmp.Compare(creates[a.index].Call, creates[b.index].Call)
	})
	var vs []Violation
	var highest *seqCreate // among those returned before the current call
	next := 0
	for _, b := range byCall {
		opB := creates[b.index]
		for ; next < len(byReturn) && creates[byReturn[next].index].Return < opB.Call; next++ {
			if highest == nil || byReturn[next].n > highest.n {
				highest = &byReturn[next]
			}
		}
		if highest == nil || highest.n < b.n {
			continue
		}
		opA := creates[highest.index]
		same := ""
		if opA.Client == opB.Client {
			same = " (same client)"
		}
		vs = append(vs, violationf("order", "%s returned before %s was invoked, yet is numbered %d >= %d%s",
			describe(highest.index, opA), describe(b.index, opB), highest.n, b.n, same))
	}
	return vs
}

// baseName returns the last element of a path.
func baseName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// sequenceNumber parses the 10-digit decimal suffix after the last '-' of
// a sequential node's name.
func sequenceNumber(name string) (int64, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || len(name)-i-1 != 10 {
		return 0, false
	}
	digits := name[i+1:]
	if strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
