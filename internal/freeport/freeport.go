package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Bounds of the ports a Picker draws from when the ephemeral range cannot
// be read, or leaves too little room below it.
const (
	lowest = 10000
	// defaultEphemeralStart is Linux's default start of
	// net.ipv4.ip_local_port_range.
	defaultEphemeralStart = 32768
	attempts              = 200
)

// Picker hands out free loopback addresses. The zero value is ready; it is
// safe for concurrent use.
type Picker struct {
	mu    sync.Mutex
	given map[int]bool
}

// Addr returns "127.0.0.1:PORT" with a port below the kernel's ephemeral
// range that was free a moment ago and that p has not handed out before.
func (p *Picker) Addr() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = make(map[int]bool)
	}
	hi := ephemeralStart()
	if hi-lowest < 1000 {
		return "", fmt.Errorf("freeport: the ephemeral range starts at %d, leaving no room above %d", hi, lowest)
	}
	var last error
	for range attempts {
		port := lowest + rand.IntN(hi-lowest)
		if p.given[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			last = err
			continue
		}
		if err := ln.Close(); err != nil {
			last = err
			continue
		}
		p.given[port] = true
		return addr, nil
	}
	if last == nil {
		return "", fmt.Errorf("freeport: no port below %d left that was not handed out before, after %d tries", hi, attempts)
	}
	return "", fmt.Errorf("freeport: no free port below %d after %d tries: %w", hi, attempts, last)
}

// ephemeralStart returns the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralStart
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return defaultEphemeralStart
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= 0 || n > 65535 {
		return defaultEphemeralStart
	}
	return n
}
