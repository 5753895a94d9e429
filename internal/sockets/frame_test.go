package sockets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
)

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c'}, true)
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0}, false)
	f.Add([]byte{0, 0}, true)
	f.Add([]byte{0xff, 0xff, 1}, true)
	f.Add([]byte{0, 10, 'x'}, true)
	f.Fuzz(func(t *testing.T, stream []byte, twoBytes bool) {
		lenBytes := 4
		if twoBytes {
			lenBytes = 2
		}
		const max = 1024
		r := bufio.NewReader(bytes.NewReader(stream))
		var hdr [4]byte
		var rebuilt []byte
		for {
			frame, err := readFrame(r, hdr[:], lenBytes, max)
			switch {
			case errors.Is(err, errEmptyFrame):
				rebuilt = append(rebuilt, make([]byte, lenBytes)...)
				continue
			case errors.Is(err, errTooBig), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				if !bytes.HasPrefix(stream, rebuilt) {
					t.Fatalf("frames read do not re-encode to the stream's start")
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if len(frame) == 0 || len(frame) > max {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			rebuilt = appendFrame(rebuilt, frame, lenBytes)
		}
	})
}

// TestFrameBufferAfterFailedRead: a TCP read cut short gives its buffer
// back to the pool fit for the next frame, WebSocket or TCP (an empty
// buffer once made a later WebSocket read spin forever). The pool may drop
// what it is given (under the race detector it does so at random), so the
// read is tried until the buffer it took, marked beforehand, is seen to
// come back.
func TestFrameBufferAfterFailedRead(t *testing.T) {
	const at, mark = 100, 0x5a // past what the truncated frame writes
	for range 1000 {
		marked := getFrameBuffer()
		marked.b = marked.b[:at+1]
		marked.b[at] = mark
		marked.release() // the failed read below is likely to take it
		l := &tcpLink{linkConn: linkConn{br: bufio.NewReader(bytes.NewReader([]byte{0, 10, 'x'}))}, lenBytes: 2, max: 1024}
		if _, err := l.readFrame(); err == nil {
			t.Fatal("truncated frame read without error")
		}
		fb := getFrameBuffer()
		if cap(fb.b) == 0 {
			t.Fatal("an empty buffer went back to the pool")
		}
		if cap(fb.b) > at && fb.b[:at+1][at] == mark {
			return // the failed read's buffer came back, whole
		}
	}
	t.Fatal("the buffer of a failed read never came back to the pool")
}

// TestPayloadGrowsAsItArrives: a frame's announced length alone does not
// make the node hold that much; its buffer grows as the bytes come.
func TestPayloadGrowsAsItArrives(t *testing.T) {
	src := &cappedReader{t: t, r: bytes.NewReader(make([]byte, 100)), most: payloadStep}
	if _, err := readPayload(src, nil, 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("a payload cut short after 100 bytes: error %v, want io.ErrUnexpectedEOF", err)
	}
}

// cappedReader fails the test when asked to read more than most at once.
type cappedReader struct {
	t    *testing.T
	r    io.Reader
	most int
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if len(p) > c.most {
		c.t.Fatalf("asked to read %d bytes at once, want at most %d", len(p), c.most)
	}
	return c.r.Read(p)
}

// TestTCPLengthPrefixIsBigEndian: with --tcp-len-bytes 4 a frame is a
// big-endian uint32 length, then the payload, both ways. The frame is
// built and read here by hand, not with the node's own framing; its
// 300 bytes need two bytes of length, so a little-endian reading would
// see a frame far over the limit.
func TestTCPLengthPrefixIsBigEndian(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) { cfg.TCPLenBytes = 4 })
	cl := dialTCPRaw(t, n)
	readFrame := func() []byte {
		t.Helper()
		cl.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var prefix [4]byte
		if _, err := io.ReadFull(cl.br, prefix[:]); err != nil {
			t.Fatalf("reading a length prefix: %v", err)
		}
		size := binary.BigEndian.Uint32(prefix[:])
		if size > uint32(n.srv.cfg.MaxMessageBytes) {
			t.Fatalf("length prefix % x, read big-endian, is %d bytes: over --max-message-bytes", prefix, size)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(cl.br, payload); err != nil {
			t.Fatalf("reading a payload of %d bytes: %v", len(payload), err)
		}
		return payload
	}
	var welcome struct{ Type string }
	if w := readFrame(); json.Unmarshal(w, &welcome) != nil || welcome.Type != "Welcome" {
		t.Fatalf("first frame %q, want Welcome", w)
	}

	echo := []byte(`{"type":"Echo","data":"` + strings.Repeat("e", 300-len(`{"type":"Echo","data":""}`)) + `"}`)
	frame := make([]byte, 4+len(echo))
	binary.BigEndian.PutUint32(frame, uint32(len(echo)))
	copy(frame[4:], echo)
	cl.writeRaw(frame)
	if got := readFrame(); !bytes.Equal(got, echo) {
		t.Fatalf("echo came back as %q, want the %d bytes sent", got, len(echo))
	}
}
