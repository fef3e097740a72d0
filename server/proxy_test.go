package server_test

import (
	"net"
	"sync"
	"testing"
)

// proxy is a loopback TCP proxy in front of a member, so that a test can
// cut a client's connections and refuse new ones, as a network failure
// would, without the client knowing.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	refuse  bool
	mute    bool // drop what the member sends, as if its replies were lost
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	stopped bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.stopped
		p.mu.Unlock()
		if refuse {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in, false)
		go p.pipe(in, out, true)
	}
}

func (p *proxy) pipe(dst, src net.Conn, fromMember bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := fromMember && p.mute
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every proxied connection; if refuse, new ones are refused
// until setRefuse(false).
func (p *proxy) cut(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// setMute starts or stops dropping the member's bytes.
func (p *proxy) setMute(mute bool) {
	p.mu.Lock()
	p.mute = mute
	p.mu.Unlock()
}

func (p *proxy) setRefuse(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.ln.Close()
	p.cut(true)
	p.wg.Wait()
}
