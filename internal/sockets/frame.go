package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame errors of the TCP framing.
var (
	// errTooBig reports a frame longer than --max-message-bytes.
	errTooBig = errors.New("frame too big")
	// errEmptyFrame reports a zero-length TCP frame.
	errEmptyFrame = errors.New("empty frame")
)

// readFrame reads one length-prefixed frame from r: a big-endian length of
// lenBytes (2 or 4) bytes, then that many bytes. A length above max fails
// with errTooBig before anything more is read (the stream cannot be
// resynchronised); a zero length fails with errEmptyFrame and leaves r at
// the next frame. hdr is scratch space of at least 4 bytes.
func readFrame(r io.Reader, hdr []byte, lenBytes, max int) ([]byte, error) {
	hdr = hdr[:lenBytes]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	var n uint32
	if lenBytes == 2 {
		n = uint32(binary.BigEndian.Uint16(hdr))
	} else {
		n = binary.BigEndian.Uint32(hdr)
	}
	switch {
	case n == 0:
		return nil, errEmptyFrame
	case uint64(n) > uint64(max):
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errTooBig, n, max)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
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
