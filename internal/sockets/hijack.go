package sockets

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// connBufferBytes sizes the read buffer of a connection. net/http's is
// 4 KiB; an idle agent should cost as little as it can, and larger reads
// bypass a bufio buffer.
const connBufferBytes = 512

// controlFrameBytes sizes the write buffer of a hijacked WebSocket
// connection, which only the library's control frames use (the node
// writes its data frames itself): the largest, a 2-byte header and 125
// bytes of payload, must leave in one write, whole.
const controlFrameBytes = 128

// hijackWriter wraps the ResponseWriter of a WebSocket handshake so the
// hijacked connection gets small buffers, and so every write leaves
// through one connWriter.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn    // set by Hijack
	out  *connWriter // set by Hijack
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
	w.out = newConnWriter(conn)
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, controlFrameBytes)), nil
}

// connWriter is the only way bytes reach an agent's connection. On
// WebSocket, both the library's control frames (through its small bufio
// writer, one whole frame per write) and the agent's data frames (written
// raw by its writer, see wsLink) pass through it; its mutex keeps each
// write whole, and it is held across that write only.
type connWriter struct {
	conn net.Conn
	// raw is conn's file descriptor when it has one (not TLS): a write is
	// first tried on it directly, with no deadline to arm and clear.
	raw syscall.RawConn
	mu  sync.Mutex // serialises writes to conn
}

// newConnWriter returns the writer of conn.
func newConnWriter(conn net.Conn) *connWriter {
	w := &connWriter{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		w.raw, _ = sc.SyscallConn()
	}
	return w
}

// Write writes p within writeTimeout; the library's control frames come
// this way.
func (w *connWriter) Write(p []byte) (int, error) {
	return w.writeWithin(p, writeTimeout)
}

// writeWithin writes p, giving up after timeout. It first tries one
// non-blocking write: usually the socket has room, and arming and clearing
// a deadline (a runtime timer) would cost a tenth of a Ping's write at
// 10,000 agents. What does not fit is written with the deadline.
func (w *connWriter) writeWithin(p []byte, timeout time.Duration) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	done := 0
	if w.raw != nil {
		w.raw.Write(func(fd uintptr) bool {
			if n, err := syscall.Write(int(fd), p); err == nil {
				done = n
			}
			return true // one attempt only
		})
		if done == len(p) {
			return done, nil
		}
	}
	w.conn.SetWriteDeadline(time.Now().Add(timeout))
	n, err := w.conn.Write(p[done:])
	w.conn.SetWriteDeadline(time.Time{})
	return done + n, err
}

// framer wraps one payload in its transport's framing.
type framer interface {
	appendFrame(dst, payload []byte) []byte
}

var batchBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writeBatch writes frames to w in one write, each framed by f, giving up
// after timeout: frames queued while the writer was busy leave together.
func writeBatch(w *connWriter, f framer, frames [][]byte, timeout time.Duration) error {
	bp := batchBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, payload := range frames {
		buf = f.appendFrame(buf, payload)
	}
	_, err := w.writeWithin(buf, timeout)
	if cap(buf) <= 64<<10 { // keep big bursts from pinning memory
		*bp = buf[:0]
		batchBuffers.Put(bp)
	}
	return err
}
