package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestStatus: arbor status reports each member of --servers, in text and
// JSON, and exits 1, still printing what it got, when one does not answer.
func TestStatus(t *testing.T) {
	t.Parallel()
	addr := member(t)
	ok(t, addr, "create", "/s", "x")
	out := ok(t, addr, "status")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SERVER") || !strings.Contains(lines[1], " leader ") || !strings.Contains(lines[1], "@") {
		t.Fatalf("status:\n%s", out)
	}
	var rows []struct {
		Server  string   `json:"server"`
		ID      uint64   `json:"id"`
		Role    string   `json:"role"`
		Applied uint64   `json:"applied"`
		Voters  []uint64 `json:"voters"`
		Digest  string   `json:"digest"`
	}
	if err := json.Unmarshal([]byte(ok(t, addr, "--output", "json", "status")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Server != addr || rows[0].ID != 1 || rows[0].Role != "leader" || rows[0].Applied == 0 ||
		len(rows[0].Voters) != 1 || !strings.HasSuffix(rows[0].Digest, "@"+strconv.FormatUint(rows[0].Applied, 10)) {
		t.Fatalf("status json: %+v", rows)
	}
	rows = nil
	if err := json.Unmarshal([]byte(ok(t, addr, "--output", "json", "status", "--digest=false")), &rows); err != nil || len(rows) != 1 || rows[0].Digest != "" {
		t.Fatalf("status --digest=false: %+v %v", rows, err)
	}

	down := freeAddr(t)
	r := runEnv(t, cleanEnv(t), "", "--servers", addr+","+down, "--timeout", "2s", "status")
	if r.code != 1 || !strings.Contains(r.stdout, down+"  -") || !strings.Contains(r.stdout, down+": ") ||
		r.stderr != "arbor: status: no answer from "+down+"\n" {
		t.Fatalf("status with a server down: %v", r)
	}
	if r := runEnv(t, cleanEnv(t), "", "--servers", addr, "status", "extra"); r.code != 2 {
		t.Fatalf("status with an argument: %v", r)
	}
}
