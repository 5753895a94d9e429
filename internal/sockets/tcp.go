package sockets

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/auth"
	"github.com/hotpot-rt/hotpot/internal/codec"
)

// handshakeTimeout bounds a TLS handshake on the TCP listener, and the
// wait for a client's Auth frame.
const handshakeTimeout = 5 * time.Second

// ServeTCP accepts raw TCP agents on ln until ln is closed, then returns
// nil. Every connection uses --tcp-codec and --tcp-len-bytes framing.
// Beyond --max-conns a connection gets an Error 503 and is closed.
func (s *Server) ServeTCP(ln net.Listener) error {
	c, ok := codec.Lookup(s.cfg.TCPCodec)
	if !ok {
		return errors.New("unknown --tcp-codec " + s.cfg.TCPCodec)
	}
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if err := s.admit(); err != nil {
			// Over TLS the refusal's write is a handshake, which a silent
			// client would hold: never on the accept loop.
			if !s.goLoop(func() { s.refuseTCP(conn, c, 503, err) }) {
				conn.Close()
			}
			continue
		}
		peer := hostOf(conn.RemoteAddr().String())
		if s.waitsForPeer(conn) && !s.handshakes.begin(peer) {
			s.release()
			if !s.goLoop(func() { s.refuseTCP(conn, c, 429, errTooManyHandshakes) }) {
				conn.Close()
			}
			continue
		}
		handshakeDone := func() {}
		if s.waitsForPeer(conn) {
			handshakeDone = func() { s.handshakes.end(peer) }
		}
		if !s.goLoop(func() { s.serveTCPConn(conn, c, handshakeDone) }) {
			handshakeDone()
			s.release()
			conn.Close()
		}
	}
}

// waitsForPeer reports whether a new TCP connection has a handshake that
// waits for the client (TLS, or an Auth frame): those are what
// --max-handshakes-per-ip bounds.
func (s *Server) waitsForPeer(conn net.Conn) bool {
	_, isTLS := conn.(*tls.Conn)
	return isTLS || s.verifier != nil
}

// refuseTCP tells a connection with an Error why it cannot be served,
// and closes it, giving up after refuseTimeout (over TLS the write is a
// handshake first, which reads).
func (s *Server) refuseTCP(conn net.Conn, c codec.Codec, code int32, reason error) {
	if frame, err := c.Encode(codec.Envelope{Type: "Error", Code: code, Msg: reason.Error()}); err == nil {
		conn.SetDeadline(time.Now().Add(refuseTimeout))
		conn.Write(appendFrame(nil, frame, s.cfg.TCPLenBytes))
	}
	conn.Close()
}

// refuseTimeout bounds telling a refused connection why.
const refuseTimeout = time.Second

// serveTCPConn runs one TCP agent on its own goroutine. handshakeDone is
// called once, when the connection's TLS handshake and Auth are over,
// whatever their outcome.
func (s *Server) serveTCPConn(conn net.Conn, c codec.Codec, handshakeDone func()) {
	var once sync.Once
	endHandshake := func() { once.Do(handshakeDone) }
	defer endHandshake()
	if tc, ok := conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("tls handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
			conn.Close()
			s.release()
			return
		}
	}
	maxFrame := s.cfg.MaxMessageBytes
	if s.cfg.TCPLenBytes == 2 {
		maxFrame = min(maxFrame, 1<<16-1)
	}
	link := newTCPLink(conn, s.cfg.TCPLenBytes, maxFrame)
	who := auth.Claims{Subject: newAgentID()}
	if s.verifier != nil {
		var err error
		if who, err = s.authenticateTCP(link, c); err != nil {
			s.log.Debug("tcp client refused", "remote", conn.RemoteAddr().String(), "err", err)
			s.refuseTCP(conn, c, 401, err)
			s.release()
			return
		}
	}
	endHandshake()
	s.runAgent(&agent{
		srv:         s,
		id:          who.Subject,
		expires:     who.Expires,
		transport:   TransportTCP,
		codec:       c,
		remoteAddr:  conn.RemoteAddr().String(),
		connectedAt: time.Now(),
		maxFrame:    maxFrame,
		stats:       s.tcp,
		fixed:       s.fixed[c],
		link:        link,
	}, who.Groups)
}

// authenticateTCP reads the first frame, which must be
// {"type":"Auth","data":{"token":…}} and arrive within handshakeTimeout,
// and verifies its token.
func (s *Server) authenticateTCP(link *tcpLink, c codec.Codec) (auth.Claims, error) {
	link.conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer link.conn.SetReadDeadline(time.Time{})
	fb, err := link.readFrame()
	if err != nil {
		return auth.Claims{}, fmt.Errorf("%w: no Auth frame: %v", auth.ErrNoToken, err)
	}
	defer fb.release()
	token, ok := authToken(c, fb.b)
	if !ok {
		return auth.Claims{}, fmt.Errorf("%w: the first frame must be Auth", auth.ErrNoToken)
	}
	return s.verifier.Verify(token)
}

// authToken returns the token of frame, an Auth frame in codec c:
// {"type":"Auth","data":{"token":…}}. ok is false for any other frame; a
// token missing from an Auth frame is "".
func authToken(c codec.Codec, frame []byte) (token string, ok bool) {
	e, err := c.Decode(frame)
	if err != nil || e.Type != "Auth" {
		return "", false
	}
	var data struct {
		Token string `json:"token"`
	}
	if p, err := c.Payload(e.Data); err == nil {
		json.Unmarshal(p.Raw(), &data)
	}
	return data.Token, true
}

// tcpLink is a TCP agent's connection.
type tcpLink struct {
	linkConn
	lenBytes int
	max      int

	// owned by the read loop
	hdr    [4]byte
	broken bool // an oversize prefix was read; the rest is discarded
	framed bool // a first frame was read
}

func newTCPLink(conn net.Conn, lenBytes, max int) *tcpLink {
	return &tcpLink{
		linkConn: linkConn{conn: conn, br: bufio.NewReaderSize(conn, connBufferBytes), out: newConnWriter(conn)},
		lenBytes: lenBytes,
		max:      max,
	}
}

func (l *tcpLink) readFrame() (*frameBuffer, error) {
	if l.broken {
		// Wait for the close that follows Kicked, ignoring the stream.
		_, err := io.Copy(io.Discard, l.br)
		if err == nil {
			err = io.EOF
		}
		return nil, err
	}
	n, err := readFrameLen(l.br, l.hdr[:], l.lenBytes, l.max)
	if err == nil && !l.framed && l.lenBytes == 2 && l.httpRequest() {
		err = errHTTPOnTCP
	}
	l.framed = true
	if err != nil {
		l.broken = errors.Is(err, errTooBig) || errors.Is(err, errHTTPOnTCP)
		return nil, err
	}
	fb := getFrameBuffer()
	frame, err := readPayload(l.br, fb.b, n)
	if err != nil {
		fb.release()
		return nil, err
	}
	fb.b = frame
	return fb, nil
}

// httpMethods start HTTP request lines; read as a 2-byte prefix and the
// two bytes after it they would be a frame of some 17,000-21,000 bytes.
var httpMethods = []string{"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "TRAC"}

// httpRequest reports whether the prefix just read, with the two bytes
// after it, starts an HTTP request line: a client talking HTTP to the TCP
// port. It waits for those two bytes only when the prefix could be one.
func (l *tcpLink) httpRequest() bool {
	for _, m := range httpMethods {
		if string(l.hdr[:2]) == m[:2] {
			next, err := l.br.Peek(2)
			return err == nil && string(next) == m[2:]
		}
	}
	return false
}

func (l *tcpLink) writeFrames(frames [][]byte, timeout time.Duration) error {
	return writeBatch(l.out, l, frames, timeout)
}

func (l *tcpLink) tryFrames(frames [][]byte) tryResult { return tryBatch(l.out, l, frames) }

// appendFrame appends payload with its length prefix.
func (l *tcpLink) appendFrame(dst, payload []byte) []byte {
	return appendFrame(dst, payload, l.lenBytes)
}

// close half-closes the connection so the client reads everything sent
// before it (a full close with unread input would reset the connection and
// could destroy Kicked); the read loop closes the rest when the client
// closes its side, or the agent's close timer does.
func (l *tcpLink) close(string) {
	if cw, ok := l.conn.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		l.abort()
	}
}
