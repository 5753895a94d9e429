package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Frame errors of the TCP framing.
var (
	// errTooBig reports a frame longer than --max-message-bytes.
	errTooBig = errors.New("frame too big")
	// errHTTPOnTCP reports an HTTP request sent to the raw TCP port.
	errHTTPOnTCP = errors.New("an HTTP request on the raw TCP port")
	// errEmptyFrame reports a zero-length TCP frame.
	errEmptyFrame = errors.New("empty frame")
)

// readFrame reads one length-prefixed frame from r into a new slice; see
// readFrameLen and readPayload.
func readFrame(r io.Reader, hdr []byte, lenBytes, max int) ([]byte, error) {
	n, err := readFrameLen(r, hdr, lenBytes, max)
	if err != nil {
		return nil, err
	}
	return readPayload(r, nil, n)
}

// readFrameLen reads the length prefix of the next frame from r: a
// big-endian length of lenBytes (2 or 4) bytes. A length above max fails
// with errTooBig before anything more is read (the stream cannot be
// resynchronised); a zero length fails with errEmptyFrame, r being at the
// next frame. hdr is scratch space of at least 4 bytes.
func readFrameLen(r io.Reader, hdr []byte, lenBytes, max int) (int, error) {
	hdr = hdr[:lenBytes]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, err
	}
	var n uint32
	if lenBytes == 2 {
		n = uint32(binary.BigEndian.Uint16(hdr))
	} else {
		n = binary.BigEndian.Uint32(hdr)
	}
	switch {
	case n == 0:
		return 0, errEmptyFrame
	case uint64(n) > uint64(max):
		return 0, fmt.Errorf("%w: %d bytes, limit %d", errTooBig, n, max)
	}
	return int(n), nil
}

// payloadStep bounds how far a payload's buffer grows ahead of the bytes
// that have arrived: a header alone does not make the node hold what it
// announces.
const payloadStep = 4 << 10

// readPayload reads the n bytes of a frame's payload from r, appends them
// to dst, growing it as they arrive, and returns it.
func readPayload(r io.Reader, dst []byte, n int) ([]byte, error) {
	for end := len(dst) + n; len(dst) < end; {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(end-len(dst), max(len(dst), payloadStep)))
		}
		start := len(dst)
		got, err := io.ReadFull(r, dst[start:min(end, cap(dst))])
		dst = dst[:start+got]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return dst, nil
}

// frameBuffer holds one received frame while its agent handles it.
// Buffers are pooled and taken only once a frame has begun to arrive, so
// an idle agent holds none; what an agent keeps of a frame, it copies.
type frameBuffer struct {
	b []byte
}

var frameBuffers = sync.Pool{New: func() any { return &frameBuffer{b: make([]byte, 0, 512)} }}

func getFrameBuffer() *frameBuffer { return frameBuffers.Get().(*frameBuffer) }

// release gives the buffer back; the frame must not be used afterwards.
// A nil buffer is left alone.
func (f *frameBuffer) release() {
	if f != nil && cap(f.b) > 0 && cap(f.b) <= 64<<10 { // keep big frames from pinning memory
		f.b = f.b[:0]
		frameBuffers.Put(f)
	}
}

// appendFrame appends frame with its length prefix to dst. The caller
// keeps frames within what lenBytes can express.
func appendFrame(dst, frame []byte, lenBytes int) []byte {
	if lenBytes == 2 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(frame)))
	} else {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	}
	return append(dst, frame...)
}
