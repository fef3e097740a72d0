package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRun builds wsfloor and runs it briefly: it must report a positive
// rate and CPU figures, and refuse bad flags with a message naming them.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := filepath.Join(t.TempDir(), "wsfloor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-clients", "2", "-duration", "1s", "-warmup", "200ms").CombinedOutput()
	if err != nil {
		t.Fatalf("wsfloor: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^2 clients: (\d+) round trips/s, server ([\d.]+) µs CPU per round trip, clients ([\d.]+) µs\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("output %q: not the one-line report", out)
	}
	if rate, _ := strconv.Atoi(m[1]); rate <= 0 {
		t.Errorf("rate %s, want > 0", m[1])
	}
	for _, bad := range [][]string{
		{"-clients", "0"},
		{"-duration", "11m"},
		{"-warmup", "2s", "-duration", "1s"},
		{"-request-size", "0"},
		{"-max-ops", "0"},
	} {
		out, err := exec.Command(bin, bad...).CombinedOutput()
		if err == nil {
			t.Errorf("wsfloor %v: no error, output %q", bad, out)
			continue
		}
		if !strings.Contains(string(out), bad[0]) {
			t.Errorf("wsfloor %v: %q does not name the flag", bad, out)
		}
	}
}
