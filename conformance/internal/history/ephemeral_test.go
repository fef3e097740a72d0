package history

import (
	"testing"
	"time"
)

type ephOp = Op[string, EphemeralRead]

func exists(c int, call, ret time.Duration, path string, found bool, owner int64, o Outcome) ephOp {
	return ephOp{Client: c, Input: path, Call: call, Return: ret, Output: EphemeralRead{found, owner}, Outcome: o}
}

func TestCheckEphemerals(t *testing.T) {
	ended := map[int64]time.Duration{0xa: 10, 0xb: 20}
	tests := []struct {
		name    string
		reads   []ephOp
		final   map[string]int64
		want    []string
		mention []string
	}{
		{"clean", []ephOp{
			exists(1, 5, 15, "/e/a", true, 0xa, OK),    // invoked before the end
			exists(1, 16, 17, "/e/a", false, 0, OK),    // gone
			exists(2, 11, 12, "/e/c", true, 0xc, OK),   // c never ended
			exists(2, 13, 14, "/p", true, 0, OK),       // persistent
			exists(2, 25, 26, "/e/b", true, 0xb, Fail), // failed reads say nothing
			exists(3, 25, 26, "/e/b", true, 0xb, Unknown),
			exists(3, 10, 26, "/e/a", true, 0xa, OK), // invoked as the end was seen
		}, map[string]int64{"/e/c": 0xc, "/p": 0}, nil, nil},
		{"no reads", nil, nil, nil, nil},
		{"read after the end", []ephOp{
			exists(1, 5, 6, "/e/a", true, 0xa, OK),
			exists(2, 11, 12, "/e/a", true, 0xa, OK),
		}, nil, []string{"outlived-session"}, []string{"op 1 ", "/e/a of session 0xa", "ended at 10ns"}},
		{"listed at the end", nil, map[string]int64{"/e/b": 0xb, "/e/c": 0xc, "/e/a": 0xa},
			[]string{"survived-session", "survived-session"}, []string{"/e/a of session 0xa", "/e/b of session 0xb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkViolations(t, CheckEphemerals(ended, tt.reads, tt.final), tt.want, tt.mention)
		})
	}
}

func TestSessionEnds(t *testing.T) {
	var s SessionEnds
	if len(s.Times()) != 0 {
		t.Fatal("zero value has ends")
	}
	s.Ended(1, 30)
	s.Ended(1, 20)
	s.Ended(1, 40)
	s.Ended(2, 5)
	got := s.Times()
	if len(got) != 2 || got[1] != 20 || got[2] != 5 {
		t.Fatalf("ends = %v", got)
	}
	got[3] = 1
	if _, ok := s.Times()[3]; ok {
		t.Fatal("Times returned its own map")
	}
}
