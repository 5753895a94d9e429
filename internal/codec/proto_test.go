package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hotpot-rt/hotpot/internal/codec/pb"
)

// protoFrame builds a frame field by field; string values are written as
// bytes so that they may hold invalid UTF-8.
func protoFrame(fields ...any) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		num := protowire.Number(fields[i].(int))
		switch v := fields[i+1].(type) {
		case string:
			b = protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), v)
		case int:
			b = protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(v))
		}
	}
	return b
}

func TestProtoDecode(t *testing.T) {
	full, err := proto.Marshal(&pb.Envelope{Type: "T", Data: []byte{0, 1, 0xff}, Id: "7", Code: -3, Msg: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame []byte
		want  Envelope
	}{
		{"all fields", full, Envelope{Type: "T", ID: "7", Data: []byte{0, 1, 0xff}, Code: -3, Msg: "bad"}},
		{"seed echo", protoFrame(1, "Echo", 2, `{"Message":"你好"}`),
			Envelope{Type: "Echo", Data: []byte(`{"Message":"你好"}`)}},
		{"empty data is nil", protoFrame(1, "T", 2, ""), Envelope{Type: "T"}},
		{"unicode", protoFrame(1, "你好", 3, "é😀"), Envelope{Type: "你好", ID: "é😀"}},
		{"unknown fields dropped", protoFrame(9, 5, 1, "T", 15, "x"), Envelope{Type: "T"}},
		{"wrong wire type dropped", protoFrame(1, "T", 4, "x", 3, 5), Envelope{Type: "T"}},
		{"last field wins", protoFrame(1, "A", 1, "B"), Envelope{Type: "B"}},
		{"type of 128 bytes", protoFrame(1, strings.Repeat("x", 128)), Envelope{Type: strings.Repeat("x", 128)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Proto.Decode(tt.frame)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.frame, err)
			}
			if !envelopesEqual(got, tt.want) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestProtoDecodeMalformed(t *testing.T) {
	tests := []struct {
		name    string
		frame   []byte
		wantMsg string
	}{
		{"empty", nil, "missing type"},
		{"missing type", protoFrame(3, "1"), "missing type"},
		{"long type", protoFrame(1, strings.Repeat("x", 129)), "longer than 128"},
		{"JSON text", []byte(`{"type":"T"}`), "invalid protobuf"},
		{"truncated", protoFrame(1, "Echo")[:4], "invalid protobuf"},
		{"binary garbage", []byte{0xff, 0xff, 0xff}, "invalid protobuf"},
		{"field zero", []byte{0x00, 0x01}, "invalid protobuf"},
		{"type as varint", protoFrame(1, 5), "missing type"}, // a wrong wire type makes an unknown field
		{"invalid UTF-8 type", protoFrame(1, "a\xff"), "invalid protobuf"},
		{"invalid UTF-8 msg", protoFrame(1, "T", 5, "\xc3"), "invalid protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Proto.Decode(tt.frame)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Decode(%q) error = %v, want ErrMalformed saying %q", tt.frame, err, tt.wantMsg)
			}
		})
	}
}

func TestProtoEncode(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
		want []byte
	}{
		{"type only", Envelope{Type: "Ping"}, protoFrame(1, "Ping")},
		{"all fields", Envelope{Type: "T", ID: "1", Data: []byte{0}, Code: 2, Msg: "m"},
			protoFrame(1, "T", 2, "\x00", 3, "1", 4, 2, 5, "m")},
		{"empty data left out", Envelope{Type: "T", Data: []byte{}}, protoFrame(1, "T")},
		{"invalid UTF-8", Envelope{Type: "a\xff"}, protoFrame(1, "a\uFFFD")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Proto.Encode(tt.e)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("Encode(%+v) = %q, %v; want %q", tt.e, got, err, tt.want)
			}
		})
	}
}

func TestProtoDataPayload(t *testing.T) {
	tests := []struct {
		name string
		p    Payload
		want []byte
	}{
		{"empty", Payload{}, nil},
		{"JSON", Payload{JSON: []byte(`{"a":1}`)}, []byte(`{"a":1}`)},
		{"opaque bytes", Payload{Bytes: []byte{0xff, 0}}, []byte{0xff, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Proto.Data(tt.p)
			if err != nil || !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("Data(%+v) = %q, %v; want %q", tt.p, got, err, tt.want)
			}
			p, err := Proto.Payload(got)
			if err != nil || p.JSON != nil || !bytes.Equal(p.Bytes, tt.want) || (p.Bytes == nil) != (tt.want == nil) {
				t.Fatalf("Payload(%q) = %+v, %v; want Payload{Bytes: %q}", got, p, err, tt.want)
			}
		})
	}
}

// FuzzProtoDecode checks that Decode never panics, and that what it accepts
// encodes and decodes back to the same envelope.
func FuzzProtoDecode(f *testing.F) {
	f.Add(protoFrame(1, "Echo", 2, `{"Message":"你好"}`))
	f.Add(protoFrame(1, "T", 2, "\x00\xff", 3, "7", 4, -1, 5, "m", 99, 1))
	f.Add(protoFrame(1, "a\xff"))
	f.Add([]byte(`{"type":"T"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		e, err := Proto.Decode(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformed", frame, err)
			}
			return
		}
		again := encodeDecode(t, Proto, e)
		if !envelopesEqual(again, e) {
			t.Fatalf("Decode(%q) = %+v, after Encode and Decode %+v", frame, e, again)
		}
	})
}
