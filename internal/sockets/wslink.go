package sockets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// WebSocket close codes (RFC 6455 §7.4.1).
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeNoStatus        = 1005
	closeInvalidData     = 1007
	closePolicyViolation = 1008
	closeMessageTooBig   = 1009
)

var (
	// errClientClose reports the client's close frame: the connection is over.
	errClientClose = errors.New("the client closed the WebSocket")
	// errProtocol reports a frame that breaks RFC 6455; the node has
	// answered it with close 1002, or 1007 for text that is not UTF-8.
	errProtocol = errors.New("WebSocket protocol error")
)

// wsLink is a WebSocket agent's connection, the server side of RFC 6455
// without extensions. Its read loop reads frames, assembles messages,
// answers Pings within the agent's rate limit and the client's close;
// the agent's frames are written raw (a server's frames are unmasked),
// so a batch of them leaves in one write. Everything written passes
// through one connWriter.
//
// It holds no goroutine and little memory: an idle agent costs its read
// loop, blocked in a shallow read, and a 512-byte read buffer.
type wsLink struct {
	linkConn
	// opcode is wsproto.OpText or wsproto.OpBinary, by codec.
	opcode byte
	// maxBytes is --max-message-bytes: a longer message closes the agent.
	maxBytes int

	// received is the agent's: called by the read loop for each Ping and
	// Pong from the client, before it is answered, it counts the frame as
	// activity and against the rate limit, as any frame, and reports
	// whether it may be handled (a refused Ping gets no Pong). nil for a
	// link read on its own, which handles every frame.
	received func() bool

	// Read state, owned by the read loop.
	// discard is what is left to drop of a frame's payload.
	discard int64
	// skipping drops the frames left of a message that was too big.
	skipping bool

	// controlMu orders the control frames: none is written after the
	// close frame, which is written once.
	controlMu sync.Mutex
	closeSent bool // guarded by controlMu
}

// newWSLink returns the link of an accepted WebSocket connection, whose
// data frames are binary or text.
func newWSLink(conn net.Conn, br *bufio.Reader, binary bool, maxBytes int) *wsLink {
	opcode := byte(wsproto.OpText)
	if binary {
		opcode = wsproto.OpBinary
	}
	return &wsLink{linkConn: linkConn{conn: conn, br: br, out: newConnWriter(conn)}, opcode: opcode, maxBytes: maxBytes}
}

// readFrame returns the next message. Control frames between its
// fragments are handled on the way: a Ping is answered, a close ends it.
func (l *wsLink) readFrame() (*frameBuffer, error) {
	if l.discard > 0 {
		if err := l.drop(); err != nil {
			return nil, err
		}
	}
	var fb *frameBuffer // the message, once its first frame came
	var text bool       // the message is text, which must be UTF-8
	for {
		h, err := l.readHeader()
		if err != nil {
			fb.release()
			return nil, err
		}
		if h.Opcode >= wsproto.OpClose {
			if err := l.control(h); err != nil {
				fb.release()
				return nil, err
			}
			continue
		}
		open := fb != nil || l.skipping
		switch {
		case h.Opcode == wsproto.OpContinuation && !open:
			return nil, l.fail("a continuation frame with no message to continue")
		case h.Opcode != wsproto.OpContinuation && open:
			fb.release()
			return nil, l.fail("a new message before the last one ended")
		}
		if l.skipping {
			l.skipping = !h.Fin
			l.discard = h.Length
			if err := l.drop(); err != nil {
				return nil, err
			}
			continue
		}
		if fb == nil {
			fb = getFrameBuffer()
			text = h.Opcode == wsproto.OpText
		}
		if h.Length > int64(l.maxBytes-len(fb.b)) {
			fb.release()
			l.skipping = !h.Fin
			l.discard = h.Length
			return nil, fmt.Errorf("%w: more than %d bytes", errTooBig, l.maxBytes)
		}
		start := len(fb.b)
		if fb.b, err = readPayload(l.br, fb.b, int(h.Length)); err != nil {
			fb.release()
			return nil, err
		}
		wsproto.Mask(fb.b[start:], h.Mask)
		if !h.Fin {
			continue
		}
		if text && !utf8.Valid(fb.b) {
			fb.release()
			return nil, l.failWith(closeInvalidData, "a text message that is not UTF-8")
		}
		return fb, nil
	}
}

// readHeader reads one frame header, refusing what RFC 6455 forbids a
// client to send.
func (l *wsLink) readHeader() (wsproto.Header, error) {
	b, err := l.peek(2)
	if err == nil {
		b, err = l.peek(wsproto.HeaderSize(b[1]))
	}
	if err != nil {
		return wsproto.Header{}, err
	}
	h, size, err := wsproto.ParseHeader(b)
	switch {
	case err != nil:
		return h, l.fail(err.Error())
	case !h.Masked:
		return h, l.fail("a client's frames must be masked")
	}
	l.br.Discard(size)
	return h, nil
}

// read returns the next n (at most connBufferBytes) bytes, valid until
// the next read.
func (l *wsLink) read(n int) ([]byte, error) {
	b, err := l.peek(n)
	if err == nil {
		l.br.Discard(n)
	}
	return b, err
}

// peek returns the next n (at most connBufferBytes) bytes without taking
// them.
func (l *wsLink) peek(n int) ([]byte, error) {
	b, err := l.br.Peek(n)
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// drop reads and drops what is left of a frame's payload.
func (l *wsLink) drop() error {
	for l.discard > 0 {
		n, err := l.br.Discard(int(min(l.discard, 1<<20)))
		l.discard -= int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// control handles a control frame: a Ping the rate limit lets through
// gets its Pong, a close ends the connection, answered unless the node
// closed first.
func (l *wsLink) control(h wsproto.Header) error {
	payload, err := l.read(int(h.Length))
	if err != nil {
		return err
	}
	wsproto.Mask(payload, h.Mask)
	if h.Opcode != wsproto.OpClose && l.received != nil && !l.received() {
		return nil
	}
	switch h.Opcode {
	case wsproto.OpPing:
		_, err := l.writeControl(wsproto.OpPong, payload, writeTimeout)
		return err
	case wsproto.OpPong:
		return nil
	}
	if len(payload) == 1 {
		return l.fail("a close frame with a 1-byte payload")
	}
	if len(payload) >= 2 {
		if code := binary.BigEndian.Uint16(payload); !validCloseCode(code) {
			return l.fail(fmt.Sprintf("close code %d is not one a client may send", code))
		}
		if !utf8.Valid(payload[2:]) {
			return l.failWith(closeInvalidData, "a close reason that is not UTF-8")
		}
	}
	l.writeControl(wsproto.OpClose, payload, closeGrace) // echoes the client's code and reason, unless the node closed first
	return errClientClose
}

// validCloseCode reports whether a client may send code in a close frame.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code < 1000 || code > 1014:
		return false
	}
	return code != 1004 && code != closeNoStatus && code != 1006
}

// fail answers a protocol violation with close 1002 and returns the
// error that ends the read loop.
func (l *wsLink) fail(what string) error { return l.failWith(closeProtocolError, what) }

// failWith answers a protocol violation with close code and returns the
// error that ends the read loop.
func (l *wsLink) failWith(code uint16, what string) error {
	l.writeControl(wsproto.OpClose, wsproto.ClosePayload(code, what), closeGrace)
	return fmt.Errorf("%w: %s", errProtocol, what)
}

// writeControl writes one control frame within timeout, and reports
// whether it did: after the close frame nothing is written.
func (l *wsLink) writeControl(opcode byte, payload []byte, timeout time.Duration) (bool, error) {
	l.controlMu.Lock()
	defer l.controlMu.Unlock()
	if l.closeSent {
		return false, nil
	}
	l.closeSent = opcode == wsproto.OpClose
	frame := wsproto.AppendHeader(make([]byte, 0, 2+len(payload)), opcode, len(payload), nil)
	_, err := l.out.writeWithin(append(frame, payload...), timeout)
	return true, err
}

func (l *wsLink) writeFrames(frames [][]byte, timeout time.Duration) error {
	return writeBatch(l.out, l, frames, timeout)
}

func (l *wsLink) tryFrames(frames [][]byte) tryResult { return tryBatch(l.out, l, frames) }

// appendFrame appends payload as one final, unmasked data frame.
func (l *wsLink) appendFrame(dst, payload []byte) []byte {
	return append(wsproto.AppendHeader(dst, l.opcode, len(payload), nil), payload...)
}

// close writes the close frame for reason; the read loop ends the
// connection when the client answers it, or the agent's close timer does.
func (l *wsLink) close(reason string) {
	if wrote, err := l.writeControl(wsproto.OpClose, wsproto.ClosePayload(closeCode(reason), reason), closeGrace); wrote && err != nil {
		l.abort()
	}
}

// closeCode is the WebSocket close code that goes with a close reason.
func closeCode(reason string) uint16 {
	switch reason {
	case ReasonShutdown:
		return closeGoingAway
	case ReasonSlowConsumer, ReasonTokenExpired, ReasonRateLimited:
		return closePolicyViolation
	case ReasonTooBig:
		return closeMessageTooBig
	}
	return closeNormal
}
