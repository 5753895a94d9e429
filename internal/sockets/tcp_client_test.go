package sockets

import (
	"bufio"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// tcpClient is a test client on raw TCP.
type tcpClient struct {
	t        testing.TB
	conn     net.Conn
	br       *bufio.Reader
	c        codec.Codec
	lenBytes int
	id       string        // from Welcome
	timeout  time.Duration // how long a read may wait
}

// dialTCP connects to n's TCP listener and reads Welcome.
func dialTCP(t testing.TB, n *testNode) *tcpClient {
	t.Helper()
	cl := dialTCPRaw(t, n)
	w := cl.read()
	if w.Type != "Welcome" {
		t.Fatalf("first message %+v, want Welcome", w)
	}
	var welcome struct{ ID string }
	cl.decodeData(w, &welcome)
	cl.id = welcome.ID
	return cl
}

// dialTCPRaw connects without reading anything.
func dialTCPRaw(t testing.TB, n *testNode) *tcpClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", n.tcpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, _ := codec.Lookup(n.srv.cfg.TCPCodec)
	return &tcpClient{t: t, conn: conn, br: bufio.NewReader(conn), c: c, lenBytes: n.srv.cfg.TCPLenBytes, timeout: 5 * time.Second}
}

func (cl *tcpClient) writeRaw(b []byte) {
	cl.t.Helper()
	cl.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.conn.Write(b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *tcpClient) writeFrame(frame []byte) {
	cl.t.Helper()
	cl.writeRaw(appendFrame(nil, frame, cl.lenBytes))
}

func (cl *tcpClient) write(e codec.Envelope) {
	cl.t.Helper()
	frame, err := cl.c.Encode(e)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.writeFrame(frame)
}

// readFrameErr reads one frame, or the error that ended the stream.
func (cl *tcpClient) readFrameErr() ([]byte, error) {
	cl.conn.SetReadDeadline(time.Now().Add(cl.timeout))
	var hdr [4]byte
	return readFrame(cl.br, hdr[:], cl.lenBytes, 1<<20)
}

func (cl *tcpClient) readRaw() []byte {
	cl.t.Helper()
	frame, err := cl.readFrameErr()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return frame
}

func (cl *tcpClient) read() codec.Envelope {
	cl.t.Helper()
	e, err := cl.c.Decode(cl.readRaw())
	if err != nil {
		cl.t.Fatal(err)
	}
	return e
}

// expectClose reads until the server closes the connection and returns
// the reason of the Kicked that came before ("" if none).
func (cl *tcpClient) expectClose() string {
	cl.t.Helper()
	kicked := ""
	for {
		frame, err := cl.readFrameErr()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				cl.t.Fatal("server did not close the connection")
			}
			cl.conn.Close()
			return kicked
		}
		if e, err := cl.c.Decode(frame); err == nil && e.Type == "Kicked" {
			var d struct{ Reason string }
			cl.decodeData(e, &d)
			kicked = d.Reason
		}
	}
}

// decodeData decodes an envelope's data, in the client's codec, as JSON
// into v.
func (cl *tcpClient) decodeData(e codec.Envelope, v any) {
	cl.t.Helper()
	p, err := cl.c.Payload(e.Data)
	if err != nil {
		cl.t.Fatal(err)
	}
	if err := json.Unmarshal(p.Raw(), v); err != nil {
		cl.t.Fatalf("data %q: %v", p.Raw(), err)
	}
}
