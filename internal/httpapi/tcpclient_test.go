package httpapi

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpClient is a raw TCP client of a test node: frames are a big-endian
// length prefix then the payload, in the node's --tcp-codec.
type tcpClient struct {
	t     testing.TB
	conn  net.Conn
	br    *bufio.Reader
	codec string
	len   int // prefix bytes
	id    string
}

// dialTCP connects to n's TCP listener and reads Welcome. A rcvbuf above
// zero shrinks the client's socket receive buffer, so that a client that
// never reads backs up the node sooner.
func dialTCP(t testing.TB, n *testNode, rcvbuf int) *tcpClient {
	t.Helper()
	return dialTCPAs(t, n, rcvbuf, "")
}

// dialTCPAs is dialTCP for a node with --jwt-secret: the client sends an
// Auth frame with token first, unless token is empty.
func dialTCPAs(t testing.TB, n *testNode, rcvbuf int, token string) *tcpClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = withRcvbuf(rcvbuf)
	}
	conn, err := d.Dial("tcp", n.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &tcpClient{t: t, conn: conn, br: bufio.NewReader(conn), codec: n.cfg.TCPCodec, len: n.cfg.TCPLenBytes}
	if token != "" {
		data, err := json.Marshal(map[string]string{"token": token})
		if err != nil {
			t.Fatal(err)
		}
		c.send(msg{Type: "Auth", Data: data})
	}
	w := c.recv()
	if w.Type != "Welcome" {
		t.Fatalf("first message %+v, want Welcome", w)
	}
	var d2 welcomeData
	if err := json.Unmarshal(w.Data, &d2); err != nil {
		t.Fatalf("Welcome data %q: %v", w.Data, err)
	}
	c.id = d2.ID
	return c
}

func (c *tcpClient) send(m msg) {
	c.t.Helper()
	frame, err := encodeMsg(c.codec, m)
	if err != nil {
		c.t.Fatal(err)
	}
	var buf []byte
	if c.len == 2 {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(frame)))
	} else {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(frame)))
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(append(buf, frame...)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv returns the next message other than a keepalive Ping.
func (c *tcpClient) recv() msg {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		hdr := make([]byte, c.len)
		if _, err := io.ReadFull(c.br, hdr); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		n := uint32(0)
		for _, b := range hdr {
			n = n<<8 | uint32(b)
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(c.br, frame); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		m, err := decodeMsg(c.codec, frame)
		if err != nil {
			c.t.Fatalf("decode %q: %v", frame, err)
		}
		if m.Type != "Ping" {
			return m
		}
	}
}

// withRcvbuf is a net.Dialer Control that sets the socket's receive
// buffer to size bytes before it connects.
func withRcvbuf(size int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		return errors.Join(err, serr)
	}
}
