package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/freeport"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// TestMain lets the test binary run as a member process, for the tests
// that kill one with SIGKILL.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ARBOR_TEST_MEMBER_DIR"); dir != "" {
		os.Exit(runMember(dir, os.Getenv("ARBOR_TEST_MEMBER_LISTEN")))
	}
	os.Exit(m.Run())
}

func runMember(dir, listen string) int {
	srv, err := server.New(server.Config{DataDir: dir, Listen: listen})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// memberProcess is a member in a child process.
type memberProcess struct {
	t      *testing.T
	dir    string
	listen string
	cmd    *exec.Cmd
}

func startMemberProcess(t *testing.T, dir, listen string) *memberProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ARBOR_TEST_MEMBER_DIR="+dir, "ARBOR_TEST_MEMBER_LISTEN="+listen)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &memberProcess{t: t, dir: dir, listen: listen, cmd: cmd}
	t.Cleanup(func() { p.kill() })
	waitFor(t, 20*time.Second, "member process accepting", func() bool {
		c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

func (p *memberProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// ports hands out the members' addresses: below the ephemeral range, so
// that no connection takes one while its member is down.
var ports freeport.Picker

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestKill9LosesNothingAcknowledged: a member killed with SIGKILL while
// 32 clients write has, after a restart, every write it acknowledged.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	p := startMemberProcess(t, dir, addr)
	ctx := ctxFor(t, 60*time.Second)
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = c.Close(cctx)
			}()
			for i := 0; i < 100000; i++ {
				path := fmt.Sprintf("/w%d-%d", w, i)
				if _, err := c.Create(wctx, path, []byte("x")); err != nil {
					return // the member died: this write's outcome is unknown
				}
				mu.Lock()
				acked = append(acked, path)
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 20*time.Second, "writes acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	p.kill()
	mu.Lock()
	snapshot := slices.Clone(acked)
	mu.Unlock()
	stopWriters() // writes in flight when the member died have unknown outcomes
	wg.Wait()

	startMemberProcess(t, dir, addr)
	c := connectTo(t, addr)
	for _, path := range snapshot {
		if _, err := c.Exists(ctx, path); err != nil {
			t.Fatalf("acknowledged %s lost after kill -9: %v", path, err)
		}
	}
	t.Logf("%d acknowledged writes all present after kill -9", len(snapshot))
}

// TestExactlyOnceAcrossLostReplies: sequential creates whose replies are
// lost with the connection are retried on the next one and applied once.
func TestExactlyOnceAcrossLostReplies(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	px := newProxy(t, m.Addr())
	var reconnects atomic.Int32
	c := connectTo(t, px.Addr(), client.WithSessionTimeout(20*time.Second), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		client.WithStateFunc(func(s client.State) {
			if s == client.StateDisconnected {
				reconnects.Add(1)
			}
		}))
	ctx := ctxFor(t, 60*time.Second)
	must(c.Create(ctx, "/q", nil))(t)

	const writers, each = 8, 40
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p, err := c.Create(ctx, "/q/item-", nil, client.WithMode(client.ModePersistentSequential))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, p)
				mu.Unlock()
			}
		}()
	}
	// Lose the member's replies a few times while writes are in flight.
	for round := 0; round < 5; round++ {
		time.Sleep(20 * time.Millisecond)
		px.setMute(true)
		time.Sleep(20 * time.Millisecond)
		px.cut(false)
		px.setMute(false)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	children, _, err := c.Children(ctx, "/q")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	for i, name := range children {
		children[i] = "/q/" + name
	}
	if len(children) != writers*each || !slices.Equal(children, got) {
		t.Fatalf("%d nodes for %d acknowledged creates (exactly once broken)", len(children), len(got))
	}
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatal("one path returned twice")
	}
	if reconnects.Load() == 0 {
		t.Fatal("the connection was never lost: the test proved nothing")
	}
}

// TestPipelinedResponsesInOrder: many requests in flight on one
// connection are answered in the order sent, and reads see the writes
// sent before them.
func TestPipelinedResponsesInOrder(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m)
	ctx := ctxFor(t, 30*time.Second)
	must(c.Create(ctx, "/p", []byte("0")))(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				st, err := c.Set(ctx, "/p", []byte(fmt.Sprint(g, i)), -1)
				if err != nil {
					errs <- err
					return
				}
				// Read-your-writes on the same session.
				if _, st2, err := c.Get(ctx, "/p"); err != nil || st2.Version < st.Version {
					errs <- fmt.Errorf("read version %d after writing version %d (%v)", st2.Version, st.Version, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := must(c.Exists(ctx, "/p"))(t); st.Version != 64*50 {
		t.Fatalf("version %d after %d sets", st.Version, 64*50)
	}
}

func TestConnectToStoppedMemberFails(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := client.Connect(ctx, []string{addr}); err == nil {
		t.Fatal("connected to nothing")
	} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, client.ErrConnectionLoss) {
		t.Logf("connect error: %v", err)
	}
}
