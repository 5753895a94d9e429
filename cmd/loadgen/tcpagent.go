package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// tcpFraming is how frames travel on a node's raw TCP port: a big-endian
// length prefix of lenBytes (2 or 4, the node's --tcp-len-bytes) before
// each payload, JSON payloads (the node's default --tcp-codec).
type tcpFraming struct {
	lenBytes int
}

// frame returns payload with its length prefix.
func (f tcpFraming) frame(payload []byte) []byte {
	return f.prefix(make([]byte, 0, f.lenBytes+len(payload)), len(payload), payload)
}

// prefix appends to dst a prefix announcing n bytes, then payload (which
// may be shorter than n, or empty).
func (f tcpFraming) prefix(dst []byte, n int, payload []byte) []byte {
	if f.lenBytes == 2 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	} else {
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, payload...)
}

// maxLen returns the largest length a prefix can announce.
func (f tcpFraming) maxLen() int {
	if f.lenBytes == 2 {
		return 1<<16 - 1
	}
	return 1<<31 - 1
}

// maxTCPFrame bounds the frames loadgen accepts from a node.
const maxTCPFrame = 1 << 20

// read returns the next frame's payload from r.
func (f tcpFraming) read(r io.Reader) ([]byte, error) {
	hdr := make([]byte, f.lenBytes)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[len(hdr)-2:]))
	if f.lenBytes == 4 {
		n = int(binary.BigEndian.Uint32(hdr))
	}
	if n > maxTCPFrame {
		return nil, fmt.Errorf("frame from node of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// authFrame returns the first frame a TCP client sends to a node with
// --jwt-secret: {"type":"Auth","data":{"token":…}}.
func authFrame(token string) ([]byte, error) {
	data, err := codec.JSON.Data(codec.Payload{JSON: fmt.Appendf(nil, `{"token":%q}`, token)})
	if err != nil {
		return nil, err
	}
	return codec.JSON.Encode(codec.Envelope{Type: "Auth", Data: data})
}

// tcpAgent is one raw TCP connection to a node whose Welcome has been
// read. Its frames are read by serve only; write may be called from any
// goroutine.
type tcpAgent struct {
	conn    net.Conn
	br      *bufio.Reader
	framing tcpFraming
	// silence is the longest a healthy node stays silent (see agent).
	silence time.Duration

	wmu sync.Mutex // serializes writes
}

// errRefused is a node's Error frame in answer to a TCP handshake.
type errRefused struct {
	code int32
	msg  string
}

func (e *errRefused) Error() string { return fmt.Sprintf("refused: Error %d %q", e.code, e.msg) }

// dialTCPAgent connects to the node's TCP port at addr, authenticates
// with token (none when empty: a node in dev mode) and reads the Welcome,
// all within timeout and ctx. A node that answers the Auth with an Error
// gives an *errRefused.
func dialTCPAgent(ctx context.Context, addr string, f tcpFraming, token string, timeout time.Duration) (*tcpAgent, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	t := &tcpAgent{conn: conn, br: bufio.NewReader(conn), framing: f}
	if token != "" {
		auth, err := authFrame(token)
		if err == nil {
			_, err = conn.Write(f.frame(auth))
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("sending Auth: %w", err)
		}
	}
	frame, err := f.read(t.br)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading Welcome: %w", err)
	}
	if env, err := codec.JSON.Decode(frame); err == nil && env.Type == "Error" {
		conn.Close()
		return nil, &errRefused{env.Code, env.Msg}
	}
	keepalive, err := parseWelcome(codec.JSON, frame)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	t.silence = keepalive.Limit + keepalive.Interval
	return t, nil
}

// tcpWriteTimeout bounds one write to a node.
const tcpWriteTimeout = 10 * time.Second

// write sends one frame.
func (t *tcpAgent) write(frame []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	_, err := t.conn.Write(t.framing.frame(frame))
	return err
}

// serve is the agent's read loop, as agent.serve is for WebSocket: it
// answers every Ping with a Pong, hands every other frame to handle (when
// not nil), and fails when the node stays silent longer than it can while
// healthy. When stop ends first it closes the connection and returns nil;
// otherwise it returns why the connection ended. Either way the
// connection is closed when serve returns.
func (t *tcpAgent) serve(stop context.Context, handle func(env codec.Envelope, frame []byte)) error {
	defer t.conn.Close()
	closeOnStop := context.AfterFunc(stop, func() { t.conn.Close() })
	defer closeOnStop()
	pong, err := codec.JSON.Encode(codec.Envelope{Type: "Pong"})
	if err != nil {
		return err
	}
	for {
		t.conn.SetReadDeadline(time.Now().Add(t.silence))
		frame, err := t.framing.read(t.br)
		if err != nil {
			if stop.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w (%v)", errSilent, t.silence)
			}
			return err
		}
		env, err := codec.JSON.Decode(frame)
		if err != nil {
			return fmt.Errorf("frame from node: %w", err)
		}
		switch {
		case env.Type == "Ping":
			if err := t.write(pong); err != nil && stop.Err() == nil {
				return fmt.Errorf("answering Ping: %w", err)
			}
		case handle != nil:
			handle(env, frame)
		}
	}
}
