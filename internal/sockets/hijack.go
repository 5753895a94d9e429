package sockets

import (
	"bufio"
	"net"
	"net/http"
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
