package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// TestServerProcess runs arbor server as a process: it serves, stops
// cleanly on SIGTERM with exit 0, and a restart on the same data
// directory still has the data.
func TestServerProcess(t *testing.T) {
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	srv := startServer(t, addr, cleanEnv(t), "--listen", addr, "--data-dir", dir, "--log-level", "warn")
	ok(t, addr, "create", "/persist", "kept")
	srv.stop(t)

	srv = startServer(t, addr, cleanEnv(t), "--listen", addr, "--data-dir", dir)
	if got := ok(t, addr, "get", "/persist"); got != "kept" {
		t.Errorf("get /persist after a restart = %q", got)
	}
	srv.stop(t)
	if !strings.Contains(srv.stderr.String(), "level=INFO") {
		t.Errorf("arbor server --log-level info (the default) logged nothing at info: %q", srv.stderr.String())
	}
}

// TestServerEnv configures arbor server through ARBOR_* variables only.
func TestServerEnv(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	dir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, addr, cleanEnv(t, "ARBOR_LISTEN="+addr, "ARBOR_DATA_DIR="+dir, "ARBOR_MAX_DATA_SIZE=1KiB", "ARBOR_LOG_LEVEL=error"))
	ok(t, addr, "create", "/small", strings.Repeat("x", 1024))
	if r := arborAt(t, addr, "", "create", "/big", strings.Repeat("x", 1025)); r.code != 1 || !strings.HasPrefix(r.stderr, "arbor: create /big: ") {
		t.Errorf("create of 1025 bytes with ARBOR_MAX_DATA_SIZE=1KiB: %v", r)
	}
	srv.stop(t)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("ARBOR_DATA_DIR not used: %v", err)
	}
	if s := srv.stderr.String(); s != "" {
		t.Errorf("ARBOR_LOG_LEVEL=error, yet the server logged %q", s)
	}
}

// TestServerConfigFile configures arbor server through a TOML file, and
// checks the precedence: flag > environment > file.
func TestServerConfigFile(t *testing.T) {
	t.Parallel()
	fileAddr, envAddr, flagAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := filepath.Join(t.TempDir(), "data")
	config := filepath.Join(t.TempDir(), "arbor.toml")
	toml := "# arbor server config\n" +
		"data-dir = \"" + dir + "\"\n" +
		"listen = \"" + fileAddr + "\"\n" +
		"max-data-size = 100\n" + // an integer, or "1KiB"
		"min-session-timeout = \"2s\"\n" +
		"log-level = \"warn\"\n"
	if err := os.WriteFile(config, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}

	// The file alone.
	srv := startServer(t, fileAddr, cleanEnv(t), "--config", config)
	ok(t, fileAddr, "create", "/n", strings.Repeat("x", 100))
	if r := arborAt(t, fileAddr, "", "set", "/n", strings.Repeat("x", 101)); r.code != 1 {
		t.Errorf("set of 101 bytes with max-data-size = 100 in the file: %v", r)
	}
	srv.stop(t)

	// The environment wins over the file, and a flag over both.
	srv = startServer(t, envAddr, cleanEnv(t, "ARBOR_LISTEN="+envAddr, "ARBOR_CONFIG="+config))
	if got := ok(t, envAddr, "get", "/n"); got != strings.Repeat("x", 100) {
		t.Errorf("get /n = %q: the file's data-dir not used", got)
	}
	srv.stop(t)
	srv = startServer(t, flagAddr, cleanEnv(t, "ARBOR_LISTEN="+envAddr), "--config", config, "--listen", flagAddr, "--max-data-size", "1MiB")
	ok(t, flagAddr, "set", "/n", strings.Repeat("x", 101))
	srv.stop(t)
}

// TestServerConfigErrors checks that a bad server config is reported
// clearly, with exit status 2, without starting.
func TestServerConfigErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("listen = [1, 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--min-session-timeout", "10s", "--max-session-timeout", "1s"}, "server: invalid config: session timeouts"},
		{[]string{"--listen", "nowhere"}, `server: invalid config: listen address "nowhere"`},
		{[]string{"--max-data-size", "64MiB"}, "server: invalid config: max data size"},
		{[]string{"--max-data-size", "lots"}, `server: --max-data-size: "lots"`},
		{[]string{"--log-level", "loud"}, `server: --log-level "loud"`},
		{[]string{"--snapshot-entries", "0"}, "server: --snapshot-entries: want a positive number"},
		{[]string{"--snapshot-catchup-entries", "0"}, "server: --snapshot-catchup-entries: want a positive number"},
		{[]string{"--snapshot-entries", "1000000000"}, "server: invalid config: snapshot entries"},
		{[]string{"--snapshot-entries", "-1"}, "server: invalid value"},
		{[]string{"--super-digest", "nocolon"}, "server: invalid config: super digest"},
		{[]string{"--min-session-timeout", "soon"}, "server: invalid value"},
		{[]string{"--config", bad}, "server: --config:"},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.toml")}, "server: --config:"},
		{[]string{"extra"}, `server: unexpected argument "extra"`},
		{[]string{"--cluster", "1=127.0.0.1"}, "server: --cluster: cluster: member 1: peer address"},
		{[]string{"--cluster", "one=127.0.0.1:7281"}, "server: --cluster: cluster: member \"one=127.0.0.1:7281\": the id must be a positive integer"},
		{[]string{"--cluster", "1=127.0.0.1:7281,2=127.0.0.1:7282"}, "server: invalid config: member id: required with a cluster"},
		{[]string{"--id", "3", "--cluster", "1=127.0.0.1:7281,2=127.0.0.1:7282"}, "server: invalid config: member id 3: not in the cluster"},
		{[]string{"--id", "x"}, "server: invalid value"},
		{[]string{"--gc-headroom", "lots"}, `server: --gc-headroom: "lots": want a number of bytes, optionally with a suffix B, KiB or MiB, or 0 for none`},
		{[]string{"--gc-headroom", "-5MiB"}, `server: --gc-headroom: "-5MiB"`},
	} {
		// A free address and a fresh directory, so that nothing but the
		// config can make it fail.
		args := append([]string{"server", "--data-dir", t.TempDir(), "--listen", freeAddr(t)}, tc.args...)
		start := time.Now()
		r := runEnv(t, cleanEnv(t), "", args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "arbor: ") || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("arbor %q: %v; want exit 2 and one stderr line with %q", args, r, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("arbor %q took %v to refuse its config", args, d)
		}
	}
}

func TestGCHeadroom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		gogc string
		want uint64
	}{
		{nil, "", 128 << 20}, // the default
		{nil, "50", 0},       // GOGC from the environment is left alone
		{[]string{"--gc-headroom", "64MiB"}, "50", 64 << 20}, // the flag wins over GOGC
		{[]string{"--gc-headroom", "1024"}, "", 1024},
		{[]string{"--gc-headroom", "0"}, "", 0}, // off
	} {
		var got uint64
		app := &cli.App{
			Flags: []cli.Flag{&cli.StringFlag{Name: "gc-headroom", Value: "128MiB"}},
			Action: func(c *cli.Context) error {
				var err error
				got, err = gcHeadroom(c, func(k string) string {
					if k == "GOGC" {
						return tc.gogc
					}
					return ""
				})
				return err
			},
		}
		if err := app.Run(append([]string{"arbor"}, tc.args...)); err != nil {
			t.Fatalf("%q with GOGC=%q: %v", tc.args, tc.gogc, err)
		}
		if got != tc.want {
			t.Errorf("%q with GOGC=%q: gcHeadroom = %d, want %d", tc.args, tc.gogc, got, tc.want)
		}
	}
}
