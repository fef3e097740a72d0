package conformance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/cluster"
)

var (
	flagServers = flag.String("servers", "", "run the semantics suite against the running cluster at `HOST:PORT,...` instead of one it starts (the fault suite, which needs its own processes, is skipped)")
	flagLong    = flag.Bool("long", false, "run the long fault profile: many fault cycles per test (a soak run)")
	flagArbor   = flag.String("arbor", "", "the arbor `binary` to run (default: built from ./cmd/arbor)")
	flagSeed    = flag.Int64("seed", 0, "seed the fault schedules and workloads (default: $ARBOR_SEED, else random; a failure prints the seed)")
)

// suite is what every test shares: the binary, and the cluster the
// semantics tests run against (started on first use).
var suite struct {
	binary string

	once    sync.Once
	shared  *cluster.Cluster
	dir     string
	servers []string
	err     error
}

// sessionTimeout is the clients' session timeout: long enough for an
// election on a slow machine, short enough that a test waiting out an
// expiry takes seconds.
const sessionTimeout = 4 * time.Second

// opTimeout bounds one operation of a test.
const opTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if *flagServers == "" {
		dir, err := os.MkdirTemp("", "arbor-conformance")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		suite.dir = dir
		suite.binary = *flagArbor
		if suite.binary == "" {
			suite.binary = filepath.Join(dir, "arbor")
			build := exec.Command("go", "build", "-o", suite.binary, "github.com/arbor-coord/arbor/cmd/arbor")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "conformance: building arbor:", err)
				return 1
			}
		}
	}
	code := m.Run()
	if s := runSummary(); s != "" {
		fmt.Println(s)
	}
	if suite.shared != nil {
		if err := suite.shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance: stopping the shared cluster:", err)
		}
	}
	return code
}

// servers returns the client addresses of the cluster the semantics tests
// run against: -servers, or a 3-member cluster of arbor processes started
// once for them all.
func servers(t testing.TB) []string {
	t.Helper()
	if *flagServers != "" {
		return strings.Split(*flagServers, ",")
	}
	suite.once.Do(func() {
		c, err := cluster.Start(cluster.Options{
			Binary: suite.binary,
			Dir:    filepath.Join(suite.dir, "shared"),
			// Short enough for the expiry tests; the default minimum
			// (4 s) would do too, but leaves no room below sessionTimeout.
			MinSessionTimeout: time.Second,
		})
		if err != nil {
			suite.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.WaitLeader(ctx); err != nil {
			suite.err = errors.Join(err, c.Close())
			return
		}
		suite.shared, suite.servers = c, c.ClientAddrs()
	})
	if suite.err != nil {
		t.Fatalf("starting the shared cluster: %v", suite.err)
	}
	return suite.servers
}

// ownCluster starts a cluster of arbor processes for this test alone, for
// tests that make faults, and stops it when the test ends (printing the
// tail of each member's log if the test failed). It skips the test when
// the suite runs against -servers.
func ownCluster(t *testing.T, opts cluster.Options) *cluster.Cluster {
	t.Helper()
	if *flagServers != "" {
		t.Skip("makes faults, so it needs a cluster of its own (not with -servers)")
	}
	opts.Binary = suite.binary
	opts.Dir = t.TempDir()
	if opts.MinSessionTimeout == 0 {
		opts.MinSessionTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	c, err := cluster.Start(opts)
	if err != nil {
		t.Fatalf("starting a cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range c.Members() {
				t.Logf("member %d's log (%s):\n%s", id, c.Member(id).LogPath, c.LogTail(id, 6000))
			}
			// A crash last, nearest the verdict: the tails above may not
			// reach back to it, and a CI summary shows the end.
			for _, id := range c.Members() {
				if crash := c.Crash(id, 8000); crash != "" {
					t.Logf("member %d crashed (%s):\n%s", id, c.Member(id).LogPath, crash)
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// testWriter writes the harness's log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// connect connects a client to addrs (servers(t) if none) with the suite's
// session timeout, and closes it when the test ends.
func connect(t testing.TB, addrs []string, opts ...client.Option) *client.Client {
	t.Helper()
	if len(addrs) == 0 {
		addrs = servers(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	opts = append([]client.Option{client.WithSessionTimeout(sessionTimeout)}, opts...)
	c, err := client.Connect(ctx, addrs, opts...)
	if err != nil {
		t.Fatalf("connecting to %v: %v", addrs, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// ctxT returns a context bounded by opTimeout, cancelled when the test
// ends.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testRoot creates a fresh node for the test to work under, unique across
// runs (the suite may run against a cluster that other runs used), and
// deletes it with everything below when the test ends.
func testRoot(t testing.TB, c *client.Client) string {
	t.Helper()
	root := scratchRoot(t, c)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := deleteTree(ctx, c, root); err != nil && !errors.Is(err, client.ErrClosed) {
			t.Logf("deleting %s: %v", root, err)
		}
	})
	return root
}

// scratchRoot creates a fresh node for the test to work under, unique
// across runs, and leaves it: for a test on a cluster of its own, thrown
// away with its nodes when the test ends.
func scratchRoot(t testing.TB, c *client.Client) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	root := fmt.Sprintf("/conformance/%s-%s", name, strconv.FormatInt(time.Now().UnixNano(), 36))
	if _, err := c.Create(ctxT(t), root, nil, client.WithParents()); err != nil {
		t.Fatalf("creating the test's root %s: %v", root, err)
	}
	return root
}

// deleteTree deletes path and every node below it.
func deleteTree(ctx context.Context, c *client.Client, path string) error {
	children, _, err := c.Children(ctx, path)
	if errors.Is(err, client.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range children {
		if err := deleteTree(ctx, c, path+"/"+name); err != nil {
			return err
		}
	}
	if err := c.Delete(ctx, path, -1); err != nil && !errors.Is(err, client.ErrNoNode) {
		return err
	}
	return nil
}

// seed returns the seed for a test's randomness, from -seed, $ARBOR_SEED
// or the clock, and logs it so that a failure can be replayed.
func seed(t testing.TB) int64 {
	t.Helper()
	s := *flagSeed
	if s == 0 {
		if env := os.Getenv("ARBOR_SEED"); env != "" {
			v, err := strconv.ParseInt(env, 10, 64)
			if err != nil {
				t.Fatalf("ARBOR_SEED=%q: %v", env, err)
			}
			s = v
		}
	}
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (replay with -seed %d or ARBOR_SEED=%d)", s, s, s)
	return s
}
