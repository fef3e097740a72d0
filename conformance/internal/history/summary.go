package history

import "fmt"

// Summary is the one-line result of a fault run.
type Summary struct {
	Ops        int // operations recorded
	Faults     int // faults injected (kills, pauses, partitions)
	Violations int // violations found by all checkers
}

// String returns the report line, "conformance: 1843 ops, 12 faults, 0
// violations"; the plural stays for counts of one, so the line parses the
// same way every time.
func (s Summary) String() string {
	return fmt.Sprintf("conformance: %d ops, %d faults, %d violations", s.Ops, s.Faults, s.Violations)
}
