package codec

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hotpot-rt/hotpot/internal/codec/pb"
)

// protoCodec carries envelopes as the Protobuf message pb.Envelope (see
// pb/envelope.proto) in binary frames. Data is opaque bytes.
type protoCodec struct{}

// protoEnvelopes recycles the pb.Envelope that Marshal and Unmarshal need on
// the heap, saving an allocation per call. It is a cache, not state: every
// envelope is reset before it goes back.
var protoEnvelopes = sync.Pool{New: func() any { return new(pb.Envelope) }}

// Name returns "proto".
func (protoCodec) Name() string { return "proto" }

// Binary returns true: Protobuf envelopes travel as binary frames.
func (protoCodec) Binary() bool { return true }

// Decode parses a pb.Envelope. Unknown fields, and fields of the wrong wire
// type, are dropped, as Protobuf does; strings must be valid UTF-8, as
// proto3 requires. Empty data reads as nil. The returned Data is a copy.
func (protoCodec) Decode(frame []byte) (Envelope, error) {
	m := protoEnvelopes.Get().(*pb.Envelope)
	defer protoEnvelopes.Put(m)
	defer m.Reset()
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(frame, m); err != nil {
		return Envelope{}, fmt.Errorf("%w: invalid protobuf: %v", ErrMalformed, err)
	}
	if err := checkType(m.Type); err != nil {
		return Envelope{}, err
	}
	e := Envelope{Type: m.Type, ID: m.Id, Code: m.Code, Msg: m.Msg}
	if len(m.Data) > 0 {
		e.Data = m.Data
	}
	return e, nil
}

// Encode marshals e as a pb.Envelope; empty fields are left out, as proto3
// does. Invalid UTF-8 in strings becomes U+FFFD, so Encode does not fail
// on it.
func (protoCodec) Encode(e Envelope) ([]byte, error) {
	m := protoEnvelopes.Get().(*pb.Envelope)
	defer protoEnvelopes.Put(m)
	defer m.Reset()
	m.Type = validUTF8(e.Type)
	m.Data = e.Data
	m.Id = validUTF8(e.ID)
	m.Code = e.Code
	m.Msg = validUTF8(e.Msg)
	frame, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("proto codec: encode %q: %w", m.Type, err)
	}
	return frame, nil
}

// validUTF8 returns s with each run of invalid UTF-8 replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Data returns the payload's JSON text or opaque bytes as is: proto data is
// opaque. It never fails.
func (protoCodec) Data(p Payload) ([]byte, error) {
	if p.JSON != nil {
		return p.JSON, nil
	}
	return p.Bytes, nil
}

// Payload wraps data as opaque bytes, Payload{Bytes: data}; nil gives the
// empty payload. It never fails.
func (protoCodec) Payload(data []byte) (Payload, error) {
	return Payload{Bytes: data}, nil
}
