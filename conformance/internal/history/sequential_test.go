package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

type createOp = Op[string, string]

func create(c int, call, ret time.Duration, data, name string, o Outcome) createOp {
	return createOp{Client: c, Input: data, Call: call, Return: ret, Output: name, Outcome: o}
}

func seq(n int) string { return fmt.Sprintf("/seq/n-%010d", n) }

// checkViolations fails t unless vs break the rules want, in order, and
// their details mention each string of mention.
func checkViolations(t *testing.T, vs []Violation, want, mention []string) {
	t.Helper()
	var rules []string
	for _, v := range vs {
		rules = append(rules, v.Rule)
	}
	if !slices.Equal(rules, want) {
		t.Fatalf("rules = %q, want %q\n%v", rules, want, vs)
	}
	all := fmt.Sprint(vs)
	for _, m := range mention {
		if !strings.Contains(all, m) {
			t.Errorf("violations do not mention %q: %v", m, vs)
		}
	}
}

func TestCheckSequential(t *testing.T) {
	clean := []createOp{
		create(1, 0, 10, "a", seq(1), OK),
		create(2, 1, 5, "b", seq(0), OK),    // concurrent with a
		create(1, 11, 12, "c", "", Unknown), // applied
		create(2, 11, 12, "d", "", Unknown), // not applied
		create(3, 11, 12, "e", "", Fail),
		create(2, 13, 14, "f", seq(5), OK),
	}
	cleanChildren := map[string]string{"n-0000000000": "b", "n-0000000001": "a", "n-0000000004": "c", "n-0000000005": "f"}
	tests := []struct {
		name     string
		creates  []createOp
		children map[string]string
		want     []string // rules, in order
		mention  []string // in the details
	}{
		{"clean", clean, cleanChildren, nil, nil},
		{"children listed as paths", clean, map[string]string{seq(0): "b", seq(1): "a", seq(4): "c", seq(5): "f"}, nil, nil},
		{"empty", nil, nil, nil, nil},
		{"lost: missing", clean, without(cleanChildren, "n-0000000001"),
			[]string{"lost-write"}, []string{"op 0 ", "n-0000000001 is missing"}},
		{"lost: other data", clean, with(cleanChildren, "n-0000000005", "zz"),
			[]string{"lost-write", "phantom"}, []string{"op 5 ", `holds "zz"`, `n-0000000005 hold "zz"`}},
		{"unknown create applied twice", clean, with(cleanChildren, "n-0000000006", "c"),
			[]string{"applied-twice"}, []string{"op 2 ", "n-0000000004, n-0000000006"}},
		{"acked create applied twice", clean, with(cleanChildren, "n-0000000006", "f"),
			[]string{"applied-twice"}, []string{"op 5 "}},
		{"failed create applied", clean, with(cleanChildren, "n-0000000006", "e"),
			[]string{"failed-applied"}, []string{"op 4 ", "under n-0000000006"}},
		{"two acked creates with one name", []createOp{
			create(1, 0, 2, "a", seq(3), OK),
			create(2, 1, 3, "b", seq(3), OK),
		}, map[string]string{"n-0000000003": "a"},
			[]string{"lost-write", "duplicate-name"}, []string{"op 0 ", "op 1 "}},
		{"bad name", []createOp{create(1, 0, 1, "a", "/seq/n-12", OK)}, map[string]string{"n-12": "a"},
			[]string{"bad-name"}, []string{"op 0 "}},
		{"numbered below an earlier create", []createOp{
			create(1, 0, 1, "a", seq(7), OK),
			create(2, 2, 3, "b", seq(6), OK),
		}, map[string]string{"n-0000000007": "a", "n-0000000006": "b"},
			[]string{"order"}, []string{"op 0 ", "op 1 ", "7 >= 6"}},
		{"one client numbered out of order", []createOp{
			create(1, 0, 1, "a", seq(7), OK),
			create(1, 2, 3, "b", seq(6), OK),
		}, map[string]string{"n-0000000007": "a", "n-0000000006": "b"},
			[]string{"order"}, []string{"(same client)"}},
		{"same number in sequence", []createOp{
			create(1, 0, 1, "a", seq(7), OK),
			create(2, 5, 6, "b", seq(7), OK),
		}, map[string]string{"n-0000000007": "a"},
			[]string{"lost-write", "duplicate-name", "order"}, []string{"7 >= 7"}},
		{"order names the highest earlier create", []createOp{
			create(1, 0, 1, "a", seq(9), OK),
			create(2, 0, 2, "b", seq(3), OK),
			create(3, 5, 6, "c", seq(4), OK),
		}, map[string]string{"n-0000000009": "a", "n-0000000003": "b", "n-0000000004": "c"},
			[]string{"order"}, []string{"op 0 ", "op 2 ", "9 >= 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkViolations(t, CheckSequential(tt.creates, tt.children), tt.want, tt.mention)
		})
	}
}

func TestSequenceNumber(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		ok   bool
	}{
		{"n-0000000042", 42, true},
		{"a-b-0000000000", 0, true},
		{"n-2147483647", 2147483647, true},
		{"n-000000042", 0, false},
		{"n-00000000042", 0, false},
		{"n-00000000x2", 0, false},
		{"n-+000000042", 0, false},
		{"0000000042", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		n, ok := sequenceNumber(tt.name)
		if n != tt.n || ok != tt.ok {
			t.Errorf("sequenceNumber(%q) = %d, %v; want %d, %v", tt.name, n, ok, tt.n, tt.ok)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := without(m, "")
	out[k] = v
	return out
}

func without(m map[string]string, k string) map[string]string {
	out := make(map[string]string, len(m))
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}
