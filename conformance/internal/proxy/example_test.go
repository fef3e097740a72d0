package proxy_test

import (
	"fmt"
	"io"
	"net"

	"github.com/arbor-coord/arbor/conformance/internal/proxy"
)

// A proxy in front of an echo server: a round trip, then a partition.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	p, err := proxy.New(proxy.Config{Target: ln.Addr().String()})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	_, _ = c.Write([]byte("hello"))
	_, _ = io.ReadFull(c, buf)
	fmt.Printf("echoed %q\n", buf)

	p.Block(0) // without Identify, every connection's source is 0
	p.Unblock(0)
	_, err = io.ReadFull(c, buf)
	fmt.Println("after a partition the connection is gone:", err != nil)
	fmt.Printf("%+v\n", p.Stats())
	// Output:
	// echoed "hello"
	// after a partition the connection is gone: true
	// {Accepted:1 Active:0 BlackHoled:0 Cut:0 Rejected:0 DialFailed:0}
}
