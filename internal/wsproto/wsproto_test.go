package wsproto

import (
	"bytes"
	"testing"
)

// TestAcceptKey: the example of RFC 6455 §1.3.
func TestAcceptKey(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q, want the RFC's s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
}

// TestMask: every length, word-wise or not, masks as §5.3 says, byte by
// byte with the key's octet i mod 4.
func TestMask(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		want := bytes.Clone(b)
		for i := range want {
			want[i] ^= key[i%4]
		}
		Mask(b, key)
		if !bytes.Equal(b, want) {
			t.Fatalf("%d bytes: masked to %x, want %x", n, b, want)
		}
	}
}

// TestAppendHeader pins the header's bytes (§5.2) at each boundary of
// the length's encodings, unmasked as a server writes them and masked as
// a client does, appended after what dst held.
func TestAppendHeader(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, tc := range []struct {
		opcode byte
		length int
		mask   *[4]byte
		want   []byte
	}{
		{OpText, 0, nil, []byte{0x81, 0x00}},
		{OpBinary, 125, nil, []byte{0x82, 0x7d}},
		{OpText, 126, nil, []byte{0x81, 0x7e, 0x00, 0x7e}},
		{OpText, 0xffff, nil, []byte{0x81, 0x7e, 0xff, 0xff}},
		{OpBinary, 0x10000, nil, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
		{OpPong, 3, nil, []byte{0x8a, 0x03}},
		{OpClose, 2, nil, []byte{0x88, 0x02}},
		{OpPing, 0, &key, []byte{0x89, 0x80, 0x37, 0xfa, 0x21, 0x3d}},
		{OpText, 125, &key, []byte{0x81, 0xfd, 0x37, 0xfa, 0x21, 0x3d}},
		{OpText, 126, &key, []byte{0x81, 0xfe, 0x00, 0x7e, 0x37, 0xfa, 0x21, 0x3d}},
		{OpBinary, 0xffff, &key, []byte{0x82, 0xfe, 0xff, 0xff, 0x37, 0xfa, 0x21, 0x3d}},
		{OpBinary, 0x10000, &key, []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x37, 0xfa, 0x21, 0x3d}},
	} {
		got := AppendHeader([]byte("kept"), tc.opcode, tc.length, tc.mask)
		if want := append([]byte("kept"), tc.want...); !bytes.Equal(got, want) {
			t.Errorf("opcode %#x, length %d, masked %v: % x, want % x", tc.opcode, tc.length, tc.mask != nil, got, want)
		}
	}
}
