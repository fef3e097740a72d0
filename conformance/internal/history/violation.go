package history

import "fmt"

// Violation is one broken guarantee found in a history.
type Violation struct {
	// Rule names the guarantee, e.g. "lost-write"; each checker lists
	// its rules.
	Rule string
	// Detail says what happened, naming the operations involved by their
	// index in the history given to the checker ("op 17").
	Detail string
}

// String returns "rule: detail".
func (v Violation) String() string { return v.Rule + ": " + v.Detail }

func violationf(rule, format string, args ...any) Violation {
	return Violation{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// describe names op i of a history and says what it was.
func describe[I, O any](i int, op Op[I, O]) string {
	return fmt.Sprintf("op %d (%v)", i, op)
}
