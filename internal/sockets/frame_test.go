package sockets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
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
// back fit for the next frame, WebSocket or TCP (an empty buffer once made
// a later WebSocket read spin forever).
func TestFrameBufferAfterFailedRead(t *testing.T) {
	l := &tcpLink{br: bufio.NewReader(bytes.NewReader([]byte{0, 10, 'x'})), lenBytes: 2, max: 1024}
	if _, err := l.readFrame(); err == nil {
		t.Fatal("truncated frame read without error")
	}
	for range 4 { // whatever the pool hands out next
		fb := getFrameBuffer()
		if cap(fb.b) == 0 {
			t.Fatal("an empty buffer went back to the pool")
		}
		defer fb.release()
	}
}
