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
