// Package proxy is a TEMPORARY forwarding-only stand-in for the real fault
// proxy (being written on another branch). Do not edit; it will be replaced.
package proxy

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

const PeerHandshakeBytes = 32

func PeerSource(head []byte) (uint64, error) {
	if len(head) < 32 || string(head[:4]) != "ARBR" {
		return 0, errors.New("bad handshake")
	}
	return binary.BigEndian.Uint64(head[16:24]), nil
}

type Config struct {
	Listen, Target string
	PeekBytes      int
	Identify       func([]byte) (uint64, error)
	Logger         *slog.Logger
}

type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func New(cfg Config) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: cfg.Target, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			d, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns[c], p.conns[d] = true, true
			p.mu.Unlock()
			go func() { io.Copy(d, c); d.Close(); c.Close() }()
			io.Copy(c, d)
			c.Close()
			d.Close()
		}()
	}
}

func (p *Proxy) Addr() string { return p.ln.Addr().String() }
func (p *Proxy) Close() error {
	p.ln.Close()
	p.CutAll()
	return nil
}
func (p *Proxy) Block(uint64)                {}
func (p *Proxy) Unblock(uint64)              {}
func (p *Proxy) Delay(uint64, time.Duration) {}
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	return 0
}
func (p *Proxy) BlockAll()   {}
func (p *Proxy) UnblockAll() {}
