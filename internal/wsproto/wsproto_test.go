package wsproto

import (
	"bytes"
	"strings"
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

// TestParseHeader: what AppendHeader writes parses back, masked or not,
// and the whole header is needed before it does.
func TestParseHeader(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, length := range []int{0, 1, 125, 126, 0xffff, 0x10000} {
		for _, mask := range []*[4]byte{nil, &key} {
			b := AppendHeader(nil, OpBinary, length, mask)
			for short := range len(b) {
				if _, size, err := ParseHeader(b[:short]); size != 0 || err != nil {
					t.Fatalf("length %d, masked %v: %d of %d bytes gave size %d, %v; want 0, nil", length, mask != nil, short, len(b), size, err)
				}
			}
			h, size, err := ParseHeader(append(b, "payload"...))
			want := Header{Fin: true, Opcode: OpBinary, Length: int64(length), Masked: mask != nil}
			if mask != nil {
				want.Mask = *mask
			}
			if err != nil || size != len(b) || h != want || HeaderSize(b[1]) != len(b) {
				t.Errorf("length %d, masked %v: %+v, size %d, %v; want %+v, size %d", length, mask != nil, h, size, err, want, len(b))
			}
		}
	}
}

// TestParseHeaderRefuses: what RFC 6455 §5 forbids any frame.
func TestParseHeaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
		want   string
	}{
		{"reserved bit", []byte{0xc1, 0x00}, "reserved bits"},
		{"unknown data opcode", []byte{0x83, 0x00}, "unknown opcode 0x3"},
		{"unknown control opcode", []byte{0x8b, 0x00}, "unknown opcode 0xb"},
		{"fragmented ping", []byte{0x09, 0x00}, "fragmented control frame"},
		{"long ping", []byte{0x89, 0x7e, 0x00, 0x05}, "control frame longer than 125 bytes"},
		{"length over 2^63", []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, "over 2^63"},
	} {
		if _, _, err := ParseHeader(tc.header); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseHeader: any bytes parse without panic into a header no longer
// than they are, and a final frame's header, written again as
// AppendHeader writes it, parses to the same header.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x89, 0x7e, 0x00, 0x05})
	f.Add([]byte{0x02, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, size, err := ParseHeader(b)
		if size > len(b) {
			t.Fatalf("size %d of %d bytes", size, len(b))
		}
		if err != nil || size == 0 || !h.Fin {
			return
		}
		var mask *[4]byte
		if h.Masked {
			mask = &h.Mask
		}
		again, _, err := ParseHeader(AppendHeader(nil, h.Opcode, int(h.Length), mask))
		if err != nil || again != h {
			t.Fatalf("%+v written again parses to %+v, %v", h, again, err)
		}
	})
}

// TestClosePayload: the code, big-endian, then the reason, cut to fit a
// control frame without splitting a character.
func TestClosePayload(t *testing.T) {
	if got := ClosePayload(1000, "bye"); !bytes.Equal(got, []byte{0x03, 0xe8, 'b', 'y', 'e'}) {
		t.Errorf("ClosePayload(1000, bye) = % x", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := ClosePayload(1008, long)
	if len(got) != 124 || string(got[2:]) != strings.Repeat("é", 61) {
		t.Errorf("a 200-byte reason gave %d bytes: %q, want 61 é in 124", len(got), got[2:])
	}
}
