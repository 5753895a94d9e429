// Package wsproto holds what the node's WebSocket server and the load
// generator's WebSocket client share of RFC 6455: the opcodes, the
// handshake's accept key, the header of the frames they write and the
// masking of a client's frames.
package wsproto

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
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
