// Command wsfloor measures the floor under any WebSocket request/response
// server on this machine: what a closed loop of small binary frames costs
// when the server does no work at all, so that a server's own figures can
// be read against it.
//
// It starts a copy of itself as the server (a gorilla/websocket endpoint
// that answers every binary frame with a -response-size frame, on a
// loopback address), then runs -clients connections, each with one
// request of -request-size bytes in flight at a time, for -duration. The
// two processes share the machine as arbor's member and `arbor bench` do.
// It prints the round trips per second and each process's CPU time per
// round trip (user + system, from /proc), measured over the run after
// -warmup.
//
// It only listens on and dials 127.0.0.1, and it is bounded in time
// (-duration, at most 10 minutes) and in count (-max-ops round trips).
//
// Usage:
//
//	wsfloor -clients 64 -duration 10s
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "wsfloor serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wsfloor:", err)
		os.Exit(1)
	}
}

// serve answers frames on a loopback listener until stdin closes; it
// prints its address on stdout first.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	respSize := fs.Int("response-size", 40, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	resp := make([]byte, *respSize)
	up := websocket.Upgrader{}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				if err := c.WriteMessage(websocket.BinaryMessage, resp); err != nil {
					return
				}
			}
		}))
	}()
	var b [1]byte
	_, _ = os.Stdin.Read(b[:]) // the parent closes stdin, or exits
	return ln.Close()
}

func run() error {
	clients := flag.Int("clients", 64, "connections, each with one request in flight")
	duration := flag.Duration("duration", 10*time.Second, "length of the run, warm-up included (at most 10m)")
	warmup := flag.Duration("warmup", 2*time.Second, "the first part of the run, not measured")
	reqSize := flag.Int("request-size", 150, "bytes of each request frame")
	respSize := flag.Int("response-size", 40, "bytes of each response frame")
	maxOps := flag.Int64("max-ops", 100_000_000, "stop after this many round trips in all")
	flag.Parse()
	switch {
	case *clients < 1 || *clients > 10_000:
		return fmt.Errorf("-clients %d: want 1 to 10000", *clients)
	case *duration <= 0 || *duration > 10*time.Minute:
		return fmt.Errorf("-duration %v: want more than 0 and at most 10m", *duration)
	case *warmup < 0 || *warmup >= *duration:
		return fmt.Errorf("-warmup %v: want at least 0 and less than -duration %v", *warmup, *duration)
	case *reqSize < 1 || *reqSize > 1<<20 || *respSize < 1 || *respSize > 1<<20:
		return errors.New("-request-size and -response-size: want 1 to 1048576 bytes")
	case *maxOps < 1:
		return fmt.Errorf("-max-ops %d: want at least 1", *maxOps)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := exec.Command(self, "serve", "-response-size", strconv.Itoa(*respSize))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		_ = srv.Wait()
	}()
	var line [64]byte
	n, err := out.Read(line[:])
	if err != nil {
		return fmt.Errorf("reading the server's address: %w", err)
	}
	addr := strings.TrimSpace(string(line[:n]))

	conns := make([]*websocket.Conn, *clients)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[i] = c
	}
	var ops atomic.Int64
	var failed atomic.Value
	start := time.Now()
	stop := start.Add(*duration)
	var wg sync.WaitGroup
	req := make([]byte, *reqSize)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ops.Add(1) <= *maxOps {
				if err := c.WriteMessage(websocket.BinaryMessage, req); err != nil {
					failed.Store(err)
					return
				}
				if _, _, err := c.ReadMessage(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	bothTicks := func() (server, clients int64, err error) {
		server, err1 := cpuTicks(srv.Process.Pid)
		clients, err2 := cpuTicks(os.Getpid())
		return server, clients, errors.Join(err1, err2)
	}
	time.Sleep(*warmup)
	ops0, t0 := ops.Load(), time.Now()
	srv0, self0, err := bothTicks()
	if err != nil {
		return err
	}
	wg.Wait()
	ops1, t1 := min(ops.Load(), *maxOps), time.Now()
	srv1, self1, err := bothTicks()
	if err != nil {
		return err
	}
	if err, ok := failed.Load().(error); ok {
		return err
	}
	done := float64(ops1 - ops0)
	if done <= 0 {
		return errors.New("no round trip completed after the warm-up")
	}
	const tickMicros = 1e6 / 100 // USER_HZ
	fmt.Printf("%d clients: %.0f round trips/s, server %.1f µs CPU per round trip, clients %.1f µs\n",
		*clients, done/t1.Sub(t0).Seconds(), float64(srv1-srv0)*tickMicros/done, float64(self1-self0)*tickMicros/done)
	return nil
}

// cpuTicks returns a process's user + system CPU time in clock ticks,
// from /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15; f[0] is field 3.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u + st, nil
}
