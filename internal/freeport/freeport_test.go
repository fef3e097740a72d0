package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	var p Picker
	hi := ephemeralStart()
	seen := make(map[string]bool)
	for range 50 {
		addr, err := p.Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr() = %q: want 127.0.0.1:PORT", addr)
		}
		port, _ := strconv.Atoi(portStr)
		if port < lowest || port >= hi {
			t.Errorf("port %d outside [%d, %d)", port, lowest, hi)
		}
		// Free: a server can bind it.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("binding %s: %v", addr, err)
		}
		ln.Close()
	}
}
