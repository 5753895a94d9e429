// Package wsproto holds what the node's WebSocket server and the load
// generator's WebSocket client share of RFC 6455: the opcodes, the
// handshake's accept key, the header of the frames they write and read,
// and the masking of a client's frames.
package wsproto

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaxControlPayload bounds the payload of a control frame (§5.5).
const MaxControlPayload = 125

// acceptGUID is what a Sec-WebSocket-Accept is derived with (§1.3).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept that answers a handshake's
// Sec-WebSocket-Key.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// AppendHeader appends to dst the header of a final frame of opcode
// carrying length bytes of payload (§5.2): no reserved bits, the length
// in its shortest encoding and, when mask is not nil, the mask bit and
// the masking key. The caller appends the payload, masked with that key
// (see Mask): a client's frames must be masked, a server's must not be
// (§5.1). length must not be negative, nor over 125 for a control frame.
func AppendHeader(dst []byte, opcode byte, length int, mask *[4]byte) []byte {
	var maskBit byte
	if mask != nil {
		maskBit = 0x80
	}
	dst = append(dst, 0x80|opcode)
	switch {
	case length < 126:
		dst = append(dst, maskBit|byte(length))
	case length <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, maskBit|126), uint16(length))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, maskBit|127), uint64(length))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// Mask XORs b with a masking key, from the key's first byte (§5.3);
// masking twice unmasks.
func Mask(b []byte, key [4]byte) {
	if len(b) >= 8 {
		k := uint64(binary.LittleEndian.Uint32(key[:]))
		k |= k << 32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// ClosePayload is the payload of a close frame (§5.5.1): the code, then
// the reason, cut to fit MaxControlPayload bytes on a UTF-8 boundary.
func ClosePayload(code uint16, reason string) []byte {
	for len(reason) > MaxControlPayload-2 || !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1]
	}
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// Header is what a frame's header says (§5.2).
type Header struct {
	Fin    bool
	Opcode byte
	// Length is the payload's length.
	Length int64
	// Masked says the payload is masked, with Mask.
	Masked bool
	Mask   [4]byte
}

// HeaderSize returns how many bytes a frame's header takes, given its
// second byte: the first two, the extended length, the masking key.
func HeaderSize(second byte) int {
	n := 2
	switch second & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if second&0x80 != 0 {
		n += 4
	}
	return n
}

// ParseHeader parses the frame header at the start of b and returns it
// with its size in bytes; a size of 0 means b holds less than the whole
// header. It refuses what §5 forbids any frame: reserved bits (this
// package negotiates no extension), an unknown opcode, a control frame
// fragmented or longer than MaxControlPayload, a length over 2^63. Its
// errors say so in words fit for a close frame's reason. Which side must
// mask is the caller's rule: a client's frames are masked, a server's
// are not.
func ParseHeader(b []byte) (h Header, size int, err error) {
	if len(b) < 2 || len(b) < HeaderSize(b[1]) {
		return Header{}, 0, nil
	}
	h = Header{Fin: b[0]&0x80 != 0, Opcode: b[0] & 0x0f, Masked: b[1]&0x80 != 0, Length: int64(b[1] & 0x7f)}
	size = 2
	switch h.Length {
	case 126:
		h.Length, size = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		h.Length, size = int64(binary.BigEndian.Uint64(b[2:])), 10
	}
	if h.Masked {
		size += copy(h.Mask[:], b[size:])
	}
	switch {
	case b[0]&0x70 != 0:
		return h, size, errors.New("reserved bits set, with no extension agreed")
	case h.Opcode > OpBinary && h.Opcode < OpClose || h.Opcode > OpPong:
		return h, size, fmt.Errorf("unknown opcode %#x", h.Opcode)
	case h.Opcode >= OpClose && !h.Fin:
		return h, size, errors.New("a fragmented control frame")
	case h.Opcode >= OpClose && b[1]&0x7f > MaxControlPayload: // in the 7 bits, as §5.5 says
		return h, size, errors.New("a control frame longer than 125 bytes")
	case h.Length < 0:
		return h, size, errors.New("a frame length over 2^63")
	}
	return h, size, nil
}
