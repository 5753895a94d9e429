package sockets

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// connBufferBytes sizes the read and write buffers of a hijacked WebSocket
// connection. net/http's own are 4 KiB each; an idle agent should cost as
// little as it can, and larger reads and writes bypass a bufio buffer.
const connBufferBytes = 512

// hijackWriter wraps the ResponseWriter of a WebSocket handshake so the
// hijacked connection gets small buffers, and so writes leave through a
// corkWriter that lets the agent's writer coalesce frames.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn    // set by Hijack
	out  *corkWriter // set by Hijack
}

// Hijack hijacks the connection and swaps net/http's buffers for small
// ones. When the client has already sent bytes past the handshake, the
// reader holding them is kept.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	br := brw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(conn, connBufferBytes)
	}
	w.conn = conn
	w.out = &corkWriter{conn: conn}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, connBufferBytes)), nil
}

// corkWriter is the only way bytes reach a WebSocket agent's connection.
// Uncorked, a write goes straight out; corked, writes are collected and
// leave in one write at uncork. Its mutex serialises writes to the
// connection, so it is held across that write, and only there.
type corkWriter struct {
	conn net.Conn

	mu     sync.Mutex // guards the fields below and writes to conn
	corked bool
	buf    []byte
}

var corkBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Write sends p, or collects it while corked.
func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.corked {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	return w.writeLocked(p)
}

// cork starts collecting writes.
func (w *corkWriter) cork() {
	w.mu.Lock()
	w.corked = true
	w.buf = (*corkBuffers.Get().(*[]byte))[:0]
	w.mu.Unlock()
}

// uncork writes what was collected in one write and stops collecting.
// With discard, what was collected is dropped instead.
func (w *corkWriter) uncork(discard bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := w.buf
	w.corked, w.buf = false, nil
	var err error
	if !discard && len(buf) > 0 {
		_, err = w.writeLocked(buf)
	}
	if cap(buf) <= 64<<10 {
		buf = buf[:0]
		corkBuffers.Put(&buf)
	}
	return err
}

func (w *corkWriter) writeLocked(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.conn.Write(p)
}
