package sockets

import (
	"strconv"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// fixedFrames are the server messages that never change, encoded once per
// codec when the server starts.
type fixedFrames struct {
	ping, pong []byte
	// rateLimited is the Error 429 that refuses a frame over the rate limit.
	rateLimited []byte
}

// newFixedFrames encodes the fixed frames of every codec; rateLimitedMsg
// is the msg of the Error 429.
func newFixedFrames(rateLimitedMsg string) map[codec.Codec]*fixedFrames {
	out := make(map[codec.Codec]*fixedFrames)
	for _, c := range []codec.Codec{codec.JSON, codec.MsgPack, codec.Proto} {
		rateLimited, err := c.Encode(codec.Envelope{Type: "Error", Code: 429, Msg: rateLimitedMsg})
		if err != nil {
			panic("encoding Error 429 for " + c.Name() + ": " + err.Error())
		}
		out[c] = &fixedFrames{
			ping:        mustEncode(c, "Ping", []byte("{}")),
			pong:        mustEncode(c, "Pong", []byte("{}")),
			rateLimited: rateLimited,
		}
	}
	return out
}

// mustEncode encodes a server message whose data is the JSON raw, for
// frames built at start, where failing is a bug.
func mustEncode(c codec.Codec, typ string, raw []byte) []byte {
	frame, err := encodeServerMessage(c, typ, raw)
	if err != nil {
		panic("encoding " + typ + " for " + c.Name() + ": " + err.Error())
	}
	return frame
}

// encodeServerMessage encodes a message of the node's own whose data is
// the JSON raw (JSON bytes for a proto client, as DESIGN §3 says).
func encodeServerMessage(c codec.Codec, typ string, raw []byte) ([]byte, error) {
	data, err := c.Data(codec.Payload{JSON: raw})
	if err != nil {
		return nil, err
	}
	return c.Encode(codec.Envelope{Type: typ, Data: data})
}

// welcomeData is the JSON data of Welcome:
// {"id":…,"node":…,"keepalive":{"interval_ms":…,"limit_ms":…}}.
// It is built by hand: the agent's goroutine should not grow its stack
// for reflection.
func welcomeData(id, node string, intervalMS, limitMS int64) []byte {
	b := make([]byte, 0, 96+len(id)+len(node))
	b = codec.AppendJSONString(append(b, `{"id":`...), id)
	b = codec.AppendJSONString(append(b, `,"node":`...), node)
	b = strconv.AppendInt(append(b, `,"keepalive":{"interval_ms":`...), intervalMS, 10)
	b = strconv.AppendInt(append(b, `,"limit_ms":`...), limitMS, 10)
	return append(b, "}}"...)
}

// kickedData is the JSON data of Kicked: {"reason":…}.
func kickedData(reason string) []byte {
	return append(codec.AppendJSONString([]byte(`{"reason":`), reason), '}')
}
