package web_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// cutProxy forwards TCP connections to a node, and cuts on demand the
// ones that carry the event stream, as a failing network would.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	links map[*proxyLink]bool // guarded by mu
}

// proxyLink is one forwarded connection.
type proxyLink struct {
	client, server net.Conn
	events         bool // carries GET /events; guarded by cutProxy.mu
}

// startProxy listens on loopback and forwards to target until the test ends.
func startProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, links: make(map[*proxyLink]bool)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			l := &proxyLink{client: client, server: server}
			p.mu.Lock()
			p.links[l] = true
			p.mu.Unlock()
			wg.Go(func() { p.forward(l) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for l := range p.links {
			l.client.Close()
			l.server.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

// URL returns the proxy's base URL.
func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

// forward copies both ways until either side ends, noting whether the
// client asked for the event stream.
func (p *cutProxy) forward(l *proxyLink) {
	done := make(chan struct{})
	go func() {
		io.Copy(l.client, l.server)
		l.client.Close()
		close(done)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], []byte("GET /events ")) {
				p.mu.Lock()
				l.events = true
				p.mu.Unlock()
			}
			if _, err := l.server.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	l.server.Close()
	<-done
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// cutEvents resets every connection that carries the event stream and
// returns how many it cut.
func (p *cutProxy) cutEvents() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for l := range p.links {
		if l.events {
			l.client.(*net.TCPConn).SetLinger(0) // a reset, not a clean end
			l.client.Close()
			l.server.Close()
			n++
		}
	}
	return n
}

// firstDifference returns the first index where a and b differ.
func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
