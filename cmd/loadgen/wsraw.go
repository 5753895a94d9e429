package main

// A WebSocket client of its own, for the agents that mostly listen (idle,
// broadcast): the handshake and the frames are done here, on the bytes of
// the agents' sockets, so that a few goroutines can read thousands of
// agents (see herd) instead of one goroutine and one library connection
// each, which cost the generator more CPU per delivered frame than the
// node spends sending it. It does what a hotpot client needs and no more
// (RFC 6455): no extensions, so no compression; server frames unmasked,
// client frames masked.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// maxMessageBytes bounds one message from a node, however fragmented: a
// longer one ends the agent, as a node's --max-message-bytes does.
const maxMessageBytes = 16 << 20

// errProtocol is wrapped by every error about a node's frames.
var errProtocol = errors.New("WebSocket protocol error")

// frameReader parses the frames a node sends into messages and control
// frames, on bytes handed to it as they are read. It keeps the payloads
// of a message sent in fragments; the caller keeps the bytes of a frame
// not yet complete (see next).
type frameReader struct {
	// msgOp is the opcode of the message whose fragments msg holds so far;
	// 0 when there is none.
	msgOp byte
	msg   []byte
}

// next parses b, the bytes that follow those already parsed, up to the
// end of the next complete message or control frame, and returns its
// opcode and payload and how many bytes of b it took. op is 0 when b ends
// first: the n bytes taken were fragments of a message, kept by r, and
// the caller must hand b[n:] back, followed by the bytes read next. The
// payload aliases b, or r's own buffer for a message that came in
// fragments, and is valid until the next call.
func (r *frameReader) next(b []byte) (op byte, payload []byte, n int, err error) {
	for {
		h, hdr, err := parseFrameHeader(b[n:])
		fin, fop, size := h.Fin, h.Opcode, int(h.Length)
		if err != nil || hdr == 0 || len(b)-n-hdr < size {
			return 0, nil, n, err
		}
		payload, n = b[n+hdr:n+hdr+size:n+hdr+size], n+hdr+size
		switch {
		case fop >= wsproto.OpClose:
			return fop, payload, n, nil
		case fop == wsproto.OpContinuation && r.msgOp == 0:
			return 0, nil, n, fmt.Errorf("%w: continuation frame outside a message", errProtocol)
		case fop != wsproto.OpContinuation && r.msgOp != 0:
			return 0, nil, n, fmt.Errorf("%w: new message inside a fragmented one", errProtocol)
		case fop != wsproto.OpContinuation && fin:
			return fop, payload, n, nil
		case fop != wsproto.OpContinuation:
			r.msgOp, r.msg = fop, append(r.msg[:0], payload...)
		default:
			if len(r.msg)+size > maxMessageBytes {
				return 0, nil, n, fmt.Errorf("%w: message longer than %d bytes", errProtocol, maxMessageBytes)
			}
			r.msg = append(r.msg, payload...)
			if fin {
				op, r.msgOp = r.msgOp, 0
				return op, r.msg, n, nil
			}
		}
	}
}

// parseFrameHeader parses the header of the frame at the start of b and
// returns it with its size; a size of 0 means b holds less than the
// header. Beside what RFC 6455 forbids every frame (wsproto.ParseHeader)
// it refuses what a node must not send: a mask, and a payload over
// maxMessageBytes.
func parseFrameHeader(b []byte) (wsproto.Header, int, error) {
	h, hdr, err := wsproto.ParseHeader(b)
	switch {
	case err != nil:
		return h, 0, fmt.Errorf("%w: %v", errProtocol, err)
	case hdr == 0:
		return h, 0, nil
	case h.Masked:
		return h, 0, fmt.Errorf("%w: masked frame from the server", errProtocol)
	case h.Length > maxMessageBytes:
		return h, 0, fmt.Errorf("%w: frame of %d bytes, over %d", errProtocol, h.Length, maxMessageBytes)
	}
	return h, hdr, nil
}

// appendClientFrame appends one final frame of opcode op carrying payload,
// masked with key as a client's frames must be (RFC 6455 §5.3).
func appendClientFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(wsproto.AppendHeader(dst, op, len(payload), &key), payload...)
	wsproto.Mask(dst[len(dst)-len(payload):], key)
	return dst
}

// maskKey returns a fresh masking key.
func maskKey() (key [4]byte) {
	rand.Read(key[:])
	return key
}

// closeError describes the close frame a node sent, as coder/websocket
// would: its status code and reason.
func closeError(payload []byte) error {
	if len(payload) < 2 {
		return websocket.CloseError{Code: websocket.StatusNoStatusRcvd}
	}
	return websocket.CloseError{Code: websocket.StatusCode(binary.BigEndian.Uint16(payload)), Reason: string(payload[2:])}
}

// rawDial is an agent whose handshake is done and whose Welcome has been
// read, with what its node's frames need next.
type rawDial struct {
	conn    net.Conn
	frames  frameReader
	rest    []byte        // bytes read past the Welcome, not yet parsed
	silence time.Duration // how long the node may stay silent (see agent)
}

// dialRaw connects to the node at addr (a ws:// URL), does the WebSocket
// handshake for subprotocol hotpot.<codec>, and reads the node's Welcome,
// answering a WebSocket ping meanwhile; all within the protocol's dial
// timeout and ctx.
func dialRaw(ctx context.Context, p *protocol, addr string) (_ *rawDial, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u, err := rawURL(addr)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			conn.Close()
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
		}
	}()
	// The handshake's reads and writes end with ctx.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()

	br, err := handshake(conn, u, "hotpot."+p.codec.Name())
	if err != nil {
		return nil, err
	}
	d := &rawDial{conn: conn}
	buf := make([]byte, br.Buffered(), max(br.Buffered(), 4096))
	br.Read(buf)
	for {
		op, payload, n, err := d.frames.next(buf)
		if err != nil {
			return nil, fmt.Errorf("reading Welcome: %w", err)
		}
		buf = buf[n:]
		switch op {
		case 0: // more to read
			if cap(buf)-len(buf) < 1024 {
				buf = append(make([]byte, 0, len(buf)+4096), buf...)
			}
			m, err := conn.Read(buf[len(buf):cap(buf)])
			if err != nil {
				return nil, fmt.Errorf("reading Welcome: %w", err)
			}
			buf = buf[:len(buf)+m]
		case wsproto.OpPing:
			if _, err := conn.Write(appendClientFrame(nil, wsproto.OpPong, payload, maskKey())); err != nil {
				return nil, fmt.Errorf("answering ping: %w", err)
			}
		case wsproto.OpPong:
		case wsproto.OpClose:
			return nil, fmt.Errorf("reading Welcome: %w", closeError(payload))
		default:
			keepalive, err := parseWelcome(p.codec, payload)
			if err != nil {
				return nil, err
			}
			d.silence = keepalive.Limit + keepalive.Interval
			d.rest = append([]byte(nil), buf...)
			return d, nil
		}
	}
}

// rawURL parses addr, which must be a ws:// URL.
func rawURL(addr string) (*url.URL, error) {
	u, err := url.Parse(addr)
	if err == nil && u.Scheme != "ws" {
		err = fmt.Errorf("%q: idle and broadcast agents speak ws:// only, not TLS", addr)
	}
	return u, err
}

// handshake sends the opening handshake's request for subprotocol on conn
// and checks the node's answer (RFC 6455 §4.1). It returns the reader the
// answer was read from, which may hold frames already.
func handshake(conn net.Conn, u *url.URL, subprotocol string) (*bufio.Reader, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + subprotocol + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("sending the handshake: %w", err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the handshake's answer: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		res.Body.Close()
		return nil, fmt.Errorf("handshake answered %s, want 101: %q", res.Status, body)
	}
	switch h := res.Header; {
	case !strings.EqualFold(h.Get("Upgrade"), "websocket") || !headerHasToken(h, "Connection", "upgrade"):
		return nil, fmt.Errorf("handshake answer upgrades to %q (Connection %q), want websocket", h.Get("Upgrade"), h.Get("Connection"))
	case h.Get("Sec-WebSocket-Accept") != wsproto.AcceptKey(key):
		return nil, fmt.Errorf("handshake answer has Sec-WebSocket-Accept %q, not the one of its key", h.Get("Sec-WebSocket-Accept"))
	case h.Get("Sec-WebSocket-Protocol") != subprotocol:
		return nil, fmt.Errorf("handshake answer has subprotocol %q, want %q", h.Get("Sec-WebSocket-Protocol"), subprotocol)
	case h.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("handshake answer has extensions %q, none asked for", h.Get("Sec-WebSocket-Extensions"))
	}
	return br, nil
}

// headerHasToken reports whether header name of h lists token, in any
// case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
