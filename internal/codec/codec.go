// Package codec owns the hotpot wire envelope and its three encodings:
// JSON (text frames), MessagePack and Protobuf (binary frames).
//
// Every codec carries the same five fields. Message data travels in each
// codec's native form (JSON text, a msgpack value, opaque proto bytes); a
// Payload is the codec-neutral form web services give and receive, and
// each codec converts between the two.
package codec

import (
	"errors"
	"fmt"
)

// MaxTypeBytes is the longest message type a client may send.
const MaxTypeBytes = 128

// Envelope is one hotpot message as it travels on the wire.
type Envelope struct {
	// Type names the message; a decoded envelope always has 1–MaxTypeBytes bytes.
	Type string
	// ID correlates a call and its reply; empty for events.
	ID string
	// Data is the message data in the codec's native encoding; nil when absent.
	Data []byte
	// Code is non-zero on errors.
	Code int32
	// Msg explains a non-zero Code.
	Msg string
}

// Payload is message data in a codec-neutral form: JSON text, or opaque
// bytes (data_base64 at the REST edge). At most one of the fields is set;
// both nil means no data.
type Payload struct {
	JSON  []byte
	Bytes []byte
}

// Raw returns the payload's bytes, whichever form it has: the JSON text,
// or the opaque bytes (which a proto client often fills with JSON too).
func (p Payload) Raw() []byte {
	if p.JSON != nil {
		return p.JSON
	}
	return p.Bytes
}

// Codec encodes and decodes envelopes. Implementations are stateless and
// safe for concurrent use.
type Codec interface {
	// Name is the codec's name: "json", "msgpack" or "proto".
	Name() string
	// Binary reports whether frames travel as binary WebSocket messages.
	Binary() bool
	// Decode parses one frame. Errors wrap ErrMalformed and say what is
	// wrong in words a client developer understands. The returned Data may
	// alias frame.
	Decode(frame []byte) (Envelope, error)
	// Encode returns the frame for e. e.Data must already be in this
	// codec's native encoding (see Data).
	Encode(e Envelope) ([]byte, error)
	// Data converts a payload to this codec's native data. It fails with
	// ErrNotJSON when opaque bytes are given to a codec whose data is
	// structured and the bytes are not valid JSON.
	Data(p Payload) ([]byte, error)
	// Payload converts native data, as found in a decoded Envelope, to a
	// payload.
	Payload(data []byte) (Payload, error)
}

// Errors callers branch on.
var (
	// ErrMalformed is wrapped by every Decode error.
	ErrMalformed = errors.New("malformed message")
	// ErrNotJSON means opaque bytes cannot be delivered to a JSON or
	// msgpack client because they are not valid JSON.
	ErrNotJSON = errors.New("data is not valid JSON")
)

// The codecs, by name.
var (
	JSON    Codec = jsonCodec{}
	MsgPack Codec = msgpackCodec{}
	Proto   Codec = protoCodec{}
)

// Lookup returns the codec called name ("json", "msgpack" or "proto").
func Lookup(name string) (Codec, bool) {
	switch name {
	case "json":
		return JSON, true
	case "msgpack":
		return MsgPack, true
	case "proto":
		return Proto, true
	}
	return nil, false
}

// checkType validates a decoded envelope's type.
func checkType(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("%w: missing type", ErrMalformed)
	case len(t) > MaxTypeBytes:
		return fmt.Errorf("%w: type longer than %d bytes", ErrMalformed, MaxTypeBytes)
	}
	return nil
}
