package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// lockBound bounds every wait of the lock tests for a condition.
const lockBound = 20 * time.Second

// lockClient opens a session on addr for the test to inspect and disturb
// the lock with.
func lockClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lockBound)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// waitFile polls until the file at path contains want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	waitCond(t, fmt.Sprintf("%q in %s", want, path), func() bool { return fileHas(path, want) })
}

// Three arbor lock processes on one lock run their commands one after the
// other: each command's start and end lines are next to each other.
func TestLockSerialises(t *testing.T) {
	t.Parallel()
	addr := member(t)
	log := filepath.Join(t.TempDir(), "log")
	const n = 3
	procs := make([]*proc, n)
	for i := range procs {
		script := fmt.Sprintf("echo start %d >> %s; sleep 0.2; echo end %d >> %s", i, log, i, log)
		procs[i] = background(t, cleanEnv(t), "--servers", addr, "lock", "/locks/serial", "--", "sh", "-c", script)
	}
	for _, p := range procs {
		if code := p.wait(t, 3*lockBound); code != 0 {
			t.Fatalf("arbor lock exited %d; stderr %q", code, p.stderr.String())
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2*n {
		t.Fatalf("log %q: want %d lines", b, 2*n)
	}
	for i := 0; i < len(lines); i += 2 {
		var who string
		if _, err := fmt.Sscanf(lines[i], "start %s", &who); err != nil || lines[i+1] != "end "+who {
			t.Fatalf("commands overlapped: log %q", b)
		}
	}
}

func TestLockExitStatus(t *testing.T) {
	t.Parallel()
	addr := member(t)
	r := arborAt(t, addr, "in", "lock", "/locks/status", "--", "sh", "-c", "cat; echo out; echo err >&2; exit 7")
	if r.code != 7 || r.stdout != "inout\n" || r.stderr != "err\n" {
		t.Fatalf("arbor lock: %v; want exit 7 with the command's output", r)
	}
	if got := ok(t, addr, "lock", "/locks/status", "--", "true"); got != "" {
		t.Fatalf("arbor lock -- true printed %q", got)
	}
	// A command killed by a signal: 128+N, as a shell reports it.
	if r := arborAt(t, addr, "", "lock", "/locks/status", "--", "sh", "-c", "kill -KILL $$"); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("arbor lock of a killed command: %v", r)
	}
	fails(t, addr, 1, "arbor: run no-such-command-here: exec: \"no-such-command-here\": executable file not found in $PATH",
		"lock", "/locks/status", "--", "no-such-command-here")
	// Every lock node is gone.
	c := lockClient(t, addr)
	if children, _, err := c.Children(context.Background(), "/locks/status"); err == nil && len(children) > 0 {
		t.Fatalf("lock nodes left: %v", children)
	}
}

// Someone deletes the lock node while the command runs: the command is
// sent SIGTERM, and arbor says the lock was lost.
func TestLockLost(t *testing.T) {
	t.Parallel()
	addr := member(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script, want string
	}{
		{"stops", `trap 'echo got TERM >> %[1]s; exit 0' TERM; echo running >> %[1]s; while :; do sleep 0.05; done`,
			"arbor: lock /locks/lost-stops: lock lost while the command ran\n"},
		{"killed", `trap '' TERM; echo running >> %[1]s; while :; do sleep 0.05; done`,
			"arbor: lock /locks/lost-killed: lock lost while the command ran; the command did not exit within --grace 200ms of SIGTERM and was killed\n"},
	} {
		log := filepath.Join(dir, tc.name)
		p := background(t, cleanEnv(t), "--servers", addr, "lock", "--grace", "200ms", "/locks/lost-"+tc.name, "--", "sh", "-c", fmt.Sprintf(tc.script, log))
		waitFile(t, log, "running")
		c := lockClient(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), lockBound)
		children, _, err := c.Children(ctx, "/locks/lost-"+tc.name)
		if err != nil || len(children) != 1 {
			t.Fatalf("lock nodes %v, %v", children, err)
		}
		if err := c.Delete(ctx, "/locks/lost-"+tc.name+"/"+children[0], -1); err != nil {
			t.Fatal(err)
		}
		cancel()
		if code := p.wait(t, lockBound); code != 1 || p.stderr.String() != tc.want {
			t.Fatalf("%s: exit %d, stderr %q; want exit 1, stderr %q", tc.name, code, p.stderr.String(), tc.want)
		}
		if tc.name == "stops" {
			waitFile(t, log, "got TERM")
		}
	}
}

// SIGTERM to arbor is passed on to the command, whose exit ends arbor.
func TestLockForwardsSignals(t *testing.T) {
	t.Parallel()
	addr := member(t)
	log := filepath.Join(t.TempDir(), "log")
	p := background(t, cleanEnv(t), "--servers", addr, "lock", "/locks/signal", "--", "sh", "-c",
		fmt.Sprintf(`trap 'echo got TERM >> %[1]s; exit 3' TERM; echo running >> %[1]s; while :; do sleep 0.05; done`, log))
	waitFile(t, log, "running")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, lockBound); code != 3 || p.stderr.String() != "" {
		t.Fatalf("exit %d, stderr %q; want the command's 3", code, p.stderr.String())
	}
	waitFile(t, log, "got TERM")
}

// --wait gives up on a lock held by another.
func TestLockWait(t *testing.T) {
	t.Parallel()
	addr := member(t)
	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), lockBound)
	defer cancel()
	m := recipes.NewMutex(c, "/locks/wait")
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	fails(t, addr, 1, "arbor: lock /locks/wait: not acquired within --wait 200ms", "lock", "--wait", "200ms", "/locks/wait", "--", "true")
	if err := m.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	ok(t, addr, "lock", "--wait", "10s", "/locks/wait", "--", "true")
}

func TestLockUsage(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t) // nothing is contacted
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lock"}, "arbor: lock: want PATH -- CMD [ARGS...] (see arbor help lock)"},
		{[]string{"lock", "/l"}, "arbor: lock: missing -- CMD: the command to run (see arbor help lock)"},
		{[]string{"lock", "/l", "--"}, "arbor: lock: missing -- CMD: the command to run (see arbor help lock)"},
		{[]string{"lock", "l", "--", "true"}, `arbor: lock: invalid path "l": must start with /`},
		{[]string{"lock", "--grace", "-1s", "/l", "--", "true"}, "arbor: lock: --grace -1s: want 0 or more"},
		{[]string{"lock", "--wait", "-1s", "/l", "--", "true"}, "arbor: lock: --wait -1s: want a positive duration, or 0 to wait forever"},
	} {
		r := arborAt(t, addr, "", tc.args...)
		if r.code != exitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
			t.Errorf("arbor %q: %v; want exit %d, stderr %q", tc.args, r, exitUsage, tc.want)
		}
	}
}
