package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// Three `arbor barrier` processes: the first two wait until the third has
// started, then all three are released together.
func TestBarrierCommand(t *testing.T) {
	t.Parallel()
	addr := member(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watcher, err := client.Connect(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(context.WithoutCancel(ctx))
	participants := func() int {
		children, _, err := watcher.Children(ctx, "/jobs/b")
		if err != nil {
			return 0
		}
		n := 0
		for _, name := range children {
			if strings.Contains(name, "p-") {
				n++
			}
		}
		return n
	}

	const count = 3
	env := cleanEnv(t)
	args := []string{"--servers", addr, "barrier", "/jobs/b", "--count", "3"}
	var procs []*proc
	for range count - 1 {
		procs = append(procs, background(t, env, args...))
	}
	for participants() < count-1 {
		if ctx.Err() != nil {
			t.Fatalf("the first %d participants never entered", count-1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range procs {
		if p.exited() {
			t.Fatalf("%q exited with %d of %d participants in: stdout %q, stderr %q", p.cmd.Args, count-1, count, p.stdout.String(), p.stderr.String())
		}
	}
	procs = append(procs, background(t, env, args...))
	for _, p := range procs {
		if code := p.wait(t, 20*time.Second); code != 0 || p.stdout.String() != "released /jobs/b (3 participants)\n" || p.stderr.String() != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 0 and the released line", p.cmd.Args, code, p.stdout.String(), p.stderr.String())
		}
	}
	// JSON output, and a barrier of one needs no one else.
	if got := ok(t, addr, "--output", "json", "barrier", "/jobs/one", "-n", "1"); got != `{"path":"/jobs/one","count":1}`+"\n" {
		t.Errorf("json output %q", got)
	}
}

func TestBarrierCommandErrors(t *testing.T) {
	t.Parallel()
	addr := member(t)
	fails(t, addr, 2, "arbor: barrier: --count N is required", "barrier", "/b")
	fails(t, addr, 2, "arbor: barrier: --count 0: want 1 or more participants", "barrier", "/b", "--count", "0")
	fails(t, addr, 2, `arbor: barrier: invalid path "b": must start with /`, "barrier", "b", "--count", "2")
	fails(t, addr, 2, "arbor: barrier: --wait 0s: want a positive duration", "barrier", "/b", "--count", "2", "--wait", "0s")
	// Alone at a barrier of two, --wait runs out; the participant
	// withdraws, so the barrier is as it was.
	fails(t, addr, 1, "arbor: barrier enter /b: not released within --wait 300ms", "barrier", "/b", "--count", "2", "--wait", "300ms")
	// (/b is a container: it may have been reaped already.)
	if r := arborAt(t, addr, "", "ls", "/b"); r.stdout != "" || (r.code != 0 && !strings.Contains(r.stderr, "NoNode")) {
		t.Errorf("after a barrier given up: ls /b: %v; want nothing in it", r)
	}
}
