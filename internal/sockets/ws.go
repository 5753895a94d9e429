package sockets

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/auth"
	"github.com/hotpot-rt/hotpot/internal/codec"
)

// Subprotocols a WebSocket client may ask for to choose its codec.
var subprotocols = []string{"hotpot.json", "hotpot.msgpack", "hotpot.proto"}

// errTooManyConns refuses a connection beyond --max-conns.
var errTooManyConns = errors.New("too many connections")

// ServeWS upgrades r to a WebSocket agent. The codec comes from the
// negotiated subprotocol (hotpot.json, hotpot.msgpack, hotpot.proto), else
// ?codec=, else JSON; the id from ?id=, else it is generated. It answers
// 400 for a bad id or codec, 403 for a refused Origin and 503 beyond
// --max-conns or while shutting down. The handler returns once the agent
// runs on its own goroutine.
func (s *Server) ServeWS(w http.ResponseWriter, r *http.Request) {
	queryCodec := codec.JSON
	if name := r.URL.Query().Get("codec"); name != "" {
		c, ok := codec.Lookup(name)
		if !ok {
			http.Error(w, "unknown codec "+name+": want json, msgpack or proto", http.StatusBadRequest)
			return
		}
		queryCodec = c
	}
	who, status, err := s.identify(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	if err := s.admit(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}

	hw := &hijackWriter{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:   subprotocols,
		OriginPatterns: s.cfg.AllowedOrigins,
	})
	if err != nil {
		s.release()
		s.log.Debug("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// readFrame enforces --max-message-bytes itself, so that the client
	// gets Kicked and a close reason in our words, not the library's.
	conn.SetReadLimit(-1)
	c := queryCodec
	if proto := conn.Subprotocol(); proto != "" {
		c, _ = codec.Lookup(strings.TrimPrefix(proto, "hotpot."))
	}
	opcode := byte(opText)
	if c.Binary() {
		opcode = opBinary
	}
	a := &agent{
		srv:         s,
		id:          who.Subject,
		expires:     who.Expires,
		transport:   TransportWS,
		codec:       c,
		remoteAddr:  remoteAddr(r, s.cfg.TrustedProxies),
		connectedAt: time.Now(),
		maxFrame:    s.cfg.MaxMessageBytes,
		stats:       s.ws,
		fixed:       s.fixed[c],
		link:        &wsLink{conn: conn, netConn: hw.conn, out: hw.out, opcode: opcode, maxBytes: s.cfg.MaxMessageBytes},
	}
	if !s.goLoop(func() { s.runAgent(a, who.Groups) }) {
		conn.Close(websocket.StatusGoingAway, ReasonShutdown)
		s.release()
	}
}

// identify returns who a WebSocket client is: with a JWT secret, the
// claims of its token (?token= or Authorization: Bearer), else the id it
// asks for with ?id=, or a generated one, with no groups and no expiry.
// On failure it returns the HTTP status to refuse the handshake with.
func (s *Server) identify(r *http.Request) (who auth.Claims, status int, err error) {
	if s.verifier == nil {
		who.Subject, err = requestedID(r)
		return who, http.StatusBadRequest, err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = auth.BearerToken(r)
	}
	who, err = s.verifier.Verify(token)
	return who, http.StatusUnauthorized, err
}

// runAgent registers a, with groups, and runs its read loop until the
// connection ends.
func (s *Server) runAgent(a *agent, groups []string) {
	a.holdWelcome()
	if err := s.register(a, groups); err != nil {
		a.dropWelcome()
		a.link.abort()
		s.release()
		return
	}
	s.registered(a.id, a.session)
	a.run()
}

// wsLink is a WebSocket agent's connection. The library reads, answers
// control frames and closes; the agent's data frames are written raw
// (a server's frames are unmasked and, without compression, trivial), so
// a batch of them leaves in one write instead of one write each.
type wsLink struct {
	conn    *websocket.Conn
	netConn net.Conn    // the hijacked connection under conn
	out     *connWriter // every write to netConn goes through it
	opcode  byte        // opText or opBinary, by codec
	// maxBytes is --max-message-bytes: a longer message closes the agent.
	maxBytes int
	// tooBig is the rest of a message over maxBytes, read and dropped
	// while the agent closes. Owned by the agent's loop.
	tooBig io.Reader
}

// WebSocket opcodes of data frames (RFC 6455 §5.2).
const (
	opText   = 0x1
	opBinary = 0x2
)

func (l *wsLink) readFrame() (*frameBuffer, error) {
	if l.tooBig != nil {
		// Until the close handshake, the library needs the message read.
		_, err := io.Copy(io.Discard, l.tooBig)
		l.tooBig = nil
		if err != nil {
			return nil, err
		}
	}
	_, r, err := l.conn.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	fb := getFrameBuffer()
	for err == nil {
		if len(fb.b) > l.maxBytes {
			fb.release()
			l.tooBig = r
			return nil, errTooBig
		}
		if len(fb.b) == cap(fb.b) {
			fb.b = slices.Grow(fb.b, min(max(len(fb.b), 512), l.maxBytes+1-len(fb.b)))
		}
		var n int
		n, err = r.Read(fb.b[len(fb.b):cap(fb.b)])
		fb.b = fb.b[:len(fb.b)+n]
	}
	if err == io.EOF && len(fb.b) <= l.maxBytes {
		return fb, nil
	}
	fb.release()
	if err == io.EOF {
		return nil, errTooBig
	}
	return nil, err
}

func (l *wsLink) writeFrames(frames [][]byte, timeout time.Duration) error {
	return writeBatch(l.out, l, frames, timeout)
}

func (l *wsLink) canTry() bool { return l.out.canTry() }

func (l *wsLink) tryFrames(frames [][]byte) tryResult { return tryBatch(l.out, l, frames) }

func (l *wsLink) flush(timeout time.Duration) error { return l.out.flush(timeout) }

// appendFrame appends payload as one final, unmasked data frame.
func (l *wsLink) appendFrame(dst, payload []byte) []byte {
	dst = append(dst, 0x80|l.opcode)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
	return append(dst, payload...)
}

func (l *wsLink) close(reason string) {
	// A close frame carries at most 123 bytes of reason.
	for len(reason) > 123 || !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1]
	}
	if l.conn.Close(closeCode(reason), reason) != nil {
		l.conn.CloseNow()
	}
}

// abort closes the TCP connection under the WebSocket first: CloseNow
// alone waits for a close handshake in progress, for up to 5 s.
func (l *wsLink) abort() {
	l.netConn.Close()
	l.conn.CloseNow()
}

// closeCode is the WebSocket close code that goes with a close reason.
func closeCode(reason string) websocket.StatusCode {
	switch reason {
	case ReasonShutdown:
		return websocket.StatusGoingAway
	case ReasonSlowConsumer, ReasonTokenExpired, ReasonRateLimited:
		return websocket.StatusPolicyViolation
	case ReasonTooBig:
		return websocket.StatusMessageTooBig
	}
	return websocket.StatusNormalClosure
}
