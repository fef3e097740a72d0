package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// Three arbor elect processes run their commands one after the other, in
// the order they campaigned, each advertising its --name while it leads.
func TestElectSerialises(t *testing.T) {
	t.Parallel()
	addr := member(t)
	log := filepath.Join(t.TempDir(), "log")
	const n = 3
	procs := make([]*proc, n)
	c := lockClient(t, addr)
	for i := range procs {
		script := fmt.Sprintf("echo start %d >> %s; sleep 0.2; echo end %d >> %s", i, log, i, log)
		procs[i] = background(t, cleanEnv(t), "--servers", addr, "elect", "--name", fmt.Sprintf("cand-%d", i), "/elect/serial", "--", "sh", "-c", script)
		// Campaign in a known order: wait for this candidate's node.
		waitCond(t, fmt.Sprintf("%d candidates", i+1), func() bool {
			kids, _, err := c.Children(context.Background(), "/elect/serial")
			return err == nil && len(kids) == i+1 || fileHas(log, "end 0")
		})
	}
	for _, p := range procs {
		if code := p.wait(t, 3*lockBound); code != 0 {
			t.Fatalf("arbor elect exited %d; stderr %q", code, p.stderr.String())
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for i := range n {
		want += fmt.Sprintf("start %d\nend %d\n", i, i)
	}
	if string(b) != want {
		t.Fatalf("log %q; want the candidates leading one at a time in order, %q", b, want)
	}
}

// The leader's value is its --name, which others read through the
// Election.
func TestElectName(t *testing.T) {
	t.Parallel()
	addr := member(t)
	log := filepath.Join(t.TempDir(), "log")
	p := background(t, cleanEnv(t), "--servers", addr, "elect", "--name", "primary-7", "/elect/name", "--", "sh", "-c",
		fmt.Sprintf(`echo running >> %[1]s; while [ ! -e %[1]s.stop ]; do sleep 0.05; done`, log))
	waitFile(t, log, "running")
	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), lockBound)
	defer cancel()
	l, err := recipes.NewElection(c, "/elect/name").Leader(ctx)
	if err != nil || string(l.Value) != "primary-7" {
		t.Fatalf("Leader = %+v, %v; want value primary-7", l, err)
	}
	if err := os.WriteFile(log+".stop", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, lockBound); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, p.stderr.String())
	}
	if _, err := recipes.NewElection(c, "/elect/name").Leader(ctx); err == nil {
		t.Fatal("a leader is left after the command exited")
	}
}

// Someone deletes the leader's node: the command is stopped and arbor
// says leadership was lost.
func TestElectLost(t *testing.T) {
	t.Parallel()
	addr := member(t)
	log := filepath.Join(t.TempDir(), "log")
	p := background(t, cleanEnv(t), "--servers", addr, "elect", "--grace", "200ms", "/elect/lost", "--", "sh", "-c",
		fmt.Sprintf(`trap 'echo got TERM >> %[1]s; exit 0' TERM; echo running >> %[1]s; while :; do sleep 0.05; done`, log))
	waitFile(t, log, "running")
	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), lockBound)
	defer cancel()
	kids, _, err := c.Children(ctx, "/elect/lost")
	if err != nil || len(kids) != 1 {
		t.Fatalf("candidates %v, %v", kids, err)
	}
	if err := c.Delete(ctx, "/elect/lost/"+kids[0], -1); err != nil {
		t.Fatal(err)
	}
	want := "arbor: elect /elect/lost: leadership lost while the command ran\n"
	if code := p.wait(t, lockBound); code != 1 || p.stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want exit 1, stderr %q", code, p.stderr.String(), want)
	}
	waitFile(t, log, "got TERM")
}

// The leading arbor elect process is killed (SIGKILL, no goodbye): the
// next candidate leads once the dead one's session expires. The test logs
// the failover time, from the kill to the new leader's command starting;
// docs/BENCHMARKS.md records it:
//
//	go test ./cmd/arbor -run TestElectFailover -count 3 -v | grep 'after the kill'
func TestElectFailover(t *testing.T) {
	t.Parallel()
	const sessionTimeout = time.Second
	addr := servertest.Start(t, server.Config{MinSessionTimeout: 500 * time.Millisecond}).Addr()
	dir := t.TempDir()
	// Each command runs until its arbor is gone ($PPID is arbor), so that
	// killing arbor leaves no orphan behind.
	script := `echo start >> %s; while kill -0 $PPID 2>/dev/null; do sleep 0.05; done`
	first := background(t, cleanEnv(t), "--servers", addr, "--session-timeout", sessionTimeout.String(), "elect", "/elect/failover", "--",
		"sh", "-c", fmt.Sprintf(script, filepath.Join(dir, "first")))
	waitFile(t, filepath.Join(dir, "first"), "start")
	second := background(t, cleanEnv(t), "--servers", addr, "--session-timeout", sessionTimeout.String(), "elect", "/elect/failover", "--",
		"sh", "-c", fmt.Sprintf(script, filepath.Join(dir, "second")))
	c := lockClient(t, addr)
	waitCond(t, "the second candidate", func() bool {
		kids, _, err := c.Children(context.Background(), "/elect/failover")
		return err == nil && len(kids) == 2
	})
	if fileHas(filepath.Join(dir, "second"), "start") {
		t.Fatal("the second candidate leads while the first does")
	}
	killed := time.Now()
	first.kill(t)
	waitFile(t, filepath.Join(dir, "second"), "start")
	t.Logf("failover %v after the kill (session timeout %v)", time.Since(killed).Round(time.Millisecond), sessionTimeout)
	if second.exited() {
		t.Fatalf("the second candidate exited: %q", second.stderr.String())
	}
}

func TestElectUsage(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t) // nothing is contacted
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"elect"}, "arbor: elect: want PATH -- CMD [ARGS...] (see arbor help elect)"},
		{[]string{"elect", "/e"}, "arbor: elect: missing -- CMD: the command to run (see arbor help elect)"},
		{[]string{"elect", "e", "--", "true"}, `arbor: elect: invalid path "e": must start with /`},
		{[]string{"elect", "--wait", "-1s", "/e", "--", "true"}, "arbor: elect: --wait -1s: want a positive duration, or 0 to wait forever"},
		{[]string{"--session-timeout", "0s", "elect", "/e", "--", "true"}, "arbor: --session-timeout 0s: want a positive duration"},
	} {
		r := arborAt(t, addr, "", tc.args...)
		if r.code != exitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
			t.Errorf("arbor %q: %v; want exit %d, stderr %q", tc.args, r, exitUsage, tc.want)
		}
	}
}

// waitCond polls cond until it holds, within lockBound.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(lockBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, lockBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fileHas reports whether the file at path contains s.
func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}
