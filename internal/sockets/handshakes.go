package sockets

import (
	"errors"
	"sync"
)

// errTooManyHandshakes refuses a connection from an address that has
// --max-handshakes-per-ip connections in handshake already.
var errTooManyHandshakes = errors.New("too many connections from your address in handshake; finish those first")

// handshakes bounds how many TCP connections one remote address has in a
// handshake that waits for the client (TLS, the Auth frame) at once, so
// that one address cannot take up --max-conns with connections that never
// become agents. (A WebSocket's handshake is done by the time its request
// is read; slow requests are bounded by the HTTP server.) Its methods are
// safe for concurrent use.
type handshakes struct {
	max int

	mu sync.Mutex // guards byAddr
	// byAddr counts the connections in handshake, by remote IP.
	byAddr map[string]int
}

func newHandshakes(max int) *handshakes {
	return &handshakes{max: max, byAddr: make(map[string]int)}
}

// begin counts a handshake from addr (an IP), or reports false when addr
// has max already. A begun handshake must be ended with end.
func (h *handshakes) begin(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byAddr[addr] >= h.max {
		return false
	}
	h.byAddr[addr]++
	return true
}

// end counts a handshake from addr as over.
func (h *handshakes) end(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byAddr[addr]--; h.byAddr[addr] <= 0 {
		delete(h.byAddr, addr)
	}
}
