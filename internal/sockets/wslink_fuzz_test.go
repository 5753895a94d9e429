package sockets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// FuzzWSReadFrame feeds a WebSocket link whatever a client could send:
// it never panics, never hands out a message over the limit, and always
// ends — each call consumes input or fails.
func FuzzWSReadFrame(f *testing.F) {
	const limit = 64
	echo := []byte(`{"type":"Echo","data":"hi"}`)
	for _, seed := range [][]byte{
		wireFrame(true, 0, wsproto.OpText, echo, true),
		append(wireFrame(false, 0, wsproto.OpText, echo[:5], true), append(wireFrame(true, 0, wsproto.OpPing, []byte("p"), true), wireFrame(true, 0, wsproto.OpContinuation, echo[5:], true)...)...),
		wireFrame(true, 0, wsproto.OpBinary, bytes.Repeat([]byte{0}, limit+1), true),
		append(wireFrame(false, 0, wsproto.OpText, bytes.Repeat([]byte("x"), limit), true), wireFrame(true, 0, wsproto.OpContinuation, []byte("x"), true)...),
		wireFrame(true, 0, wsproto.OpClose, wireClose(1000, "bye"), true),
		wireFrame(true, 0, wsproto.OpClose, []byte{3}, true),
		wireFrame(true, 0, wsproto.OpText, echo, false),
		wireFrame(true, 0x40, wsproto.OpText, echo, true),
		wireFrame(true, 0, wsproto.OpText, []byte("\xff"), true),
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		{0x81, 0xfe, 0x00},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &scriptedConn{in: bytes.NewReader(in)}
		l := newWSLink(conn, bufio.NewReaderSize(conn, connBufferBytes), false, limit)
		for range len(in) + 1 {
			fb, err := l.readFrame()
			if errors.Is(err, errTooBig) {
				continue
			}
			if err != nil {
				return
			}
			if len(fb.b) > limit {
				t.Fatalf("a message of %d bytes, over the limit of %d", len(fb.b), limit)
			}
			fb.release()
		}
		t.Fatal("readFrame neither failed nor consumed its input")
	})
}

// scriptedConn is a connection whose client sends in and takes whatever
// is written to it.
type scriptedConn struct{ in io.Reader }

func (c *scriptedConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptedConn) Close() error                     { return nil }
func (c *scriptedConn) LocalAddr() net.Addr              { return nil }
func (c *scriptedConn) RemoteAddr() net.Addr             { return nil }
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }
