package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/freeport"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// These tests run the arbor binary, built once in TestMain, against
// in-process members (servertest) or against arbor server processes, and
// check what a user sees: stdout, stderr and the exit status.

// binary is the arbor binary under test.
var binary string

// commandTimeout bounds one run of the binary.
const commandTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arbor-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "arbor")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building arbor:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// cleanEnv is the environment for the binary: the test's, without ARBOR_
// variables, with HOME in a temporary directory (the shell's history),
// plus extra.
func cleanEnv(t *testing.T, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBOR_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "HOME="+t.TempDir()), extra...)
}

// runEnv runs the binary with args, stdin and env, and waits for it.
func runEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("arbor %q: %v", args, err)
	}
	return r
}

// arborAt runs the binary against addr.
func arborAt(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	return runEnv(t, cleanEnv(t), stdin, append([]string{"--servers", addr}, args...)...)
}

// ok runs the binary against addr, expects it to succeed and returns its
// stdout.
func ok(t *testing.T, addr string, args ...string) string {
	t.Helper()
	r := arborAt(t, addr, "", args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("arbor %q: %v", args, r)
	}
	return r.stdout
}

// fails runs the binary against addr and expects it to exit with code and
// the one stderr line want.
func fails(t *testing.T, addr string, code int, want string, args ...string) {
	t.Helper()
	r := arborAt(t, addr, "", args...)
	if r.code != code || r.stderr != want+"\n" || r.stdout != "" {
		t.Errorf("arbor %q: %v; want exit %d, stderr %q", args, r, code, want)
	}
}

func member(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, server.Config{}).Addr()
}

// background starts the binary with args and stops it by its PID when the
// test ends. Its output is read after wait.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	err            error
}

func background(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%q still running after %v; stderr %q", p.cmd.Args, d, p.stderr.String())
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ports hands out the tests' server addresses: below the ephemeral range,
// so that a member restarted on its address does not find it taken by some
// connection's local port, and never the same one twice.
var ports freeport.Picker

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startServer starts arbor server with args and env, and waits until it
// accepts connections on addr.
func startServer(t *testing.T, addr string, env []string, args ...string) *proc {
	t.Helper()
	p := background(t, env, append([]string{"server"}, args...)...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("arbor server did not accept on %s: %v; stderr %q", addr, err, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("arbor server exited %d after SIGTERM; stderr %q", code, p.stderr.String())
	}
}

// kill sends SIGKILL to the process (its PID only) and waits for it to
// exit: a crash, with no chance to flush or say goodbye.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%q still running 15s after SIGKILL", p.cmd.Args)
	}
}
