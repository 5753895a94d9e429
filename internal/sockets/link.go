package sockets

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// linkConn is the connection under a link, WebSocket or TCP, with its
// reader and its writer. Embedded in both links, it gives them the
// methods of link that do not depend on the framing; each link frames
// what it reads and writes its own way.
type linkConn struct {
	conn net.Conn
	// br reads conn; owned by the read loop.
	br *bufio.Reader
	// out is the only way bytes reach conn.
	out *connWriter

	closeOnce sync.Once
}

func (c *linkConn) await() { c.br.Peek(1) }

func (c *linkConn) canTry() bool { return c.out.canTry() }

func (c *linkConn) flush(timeout time.Duration) error { return c.out.flush(timeout) }

func (c *linkConn) abort() { c.closeOnce.Do(func() { c.conn.Close() }) }
