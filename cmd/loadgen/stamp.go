package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// Events pushed through the REST API carry a stamp in their data: when
// they were sent, by this machine's wall clock (which the node and the
// agents share), and a sequence number. The agent that receives one
// measures its delay on arrival.

// stamp is the data of a stamped event: {"t":<unix ns>,"seq":<n>}.
type stamp struct {
	T   int64 `json:"t"`
	Seq int64 `json:"seq"`
}

// stampedEvent returns the body of a REST request that sends an event of
// type typ stamped now with seq.
func stampedEvent(typ string, seq int64) []byte {
	b := make([]byte, 0, 64+len(typ))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = strconv.AppendInt(append(b, `","data":{"t":`...), time.Now().UnixNano(), 10)
	b = strconv.AppendInt(append(b, `,"seq":`...), seq, 10)
	return append(b, "}}"...)
}

// stampOf reads the stamp out of a stamped event's data. The data as
// stampedEvent writes it, which JSON agents get unchanged, is read
// directly (an agent of a broadcast run reads thousands a second); any
// other form of it through encoding/json.
func stampOf(c codec.Codec, data []byte) (stamp, error) {
	p, err := c.Payload(data)
	if err != nil {
		return stamp{}, err
	}
	if s, ok := quickStamp(p.Raw()); ok {
		return s, nil
	}
	var s stamp
	err = json.Unmarshal(p.Raw(), &s)
	return s, err
}

// decode decodes a frame from a node. A JSON event whose data is a stamp
// as stampedEvent writes it is read directly, not through the codec's
// full check of the JSON: a broadcast run's agents read thousands a
// second.
func (p *protocol) decode(frame []byte) (codec.Envelope, error) {
	if p.codec == codec.JSON {
		if env, ok := quickStamped(frame); ok {
			return env, nil
		}
	}
	return p.codec.Decode(frame)
}

// quickStamped reads frame if it is exactly {"type":"<t>","data":<stamp>},
// as the node writes a stamped event to a JSON agent, with a type of
// letters, digits, '_', '.' and '-' only, and a stamp quickStamp reads;
// it then decodes as codec.JSON decodes it.
func quickStamped(frame []byte) (env codec.Envelope, ok bool) {
	rest, ok := bytes.CutPrefix(frame, []byte(`{"type":"`))
	if !ok {
		return env, false
	}
	n := 0
	for n < len(rest) && n <= codec.MaxTypeBytes && isTypeByte(rest[n]) {
		n++
	}
	if n == 0 || n > codec.MaxTypeBytes {
		return env, false
	}
	data, ok1 := bytes.CutPrefix(rest[n:], []byte(`","data":`))
	data, ok2 := bytes.CutSuffix(data, []byte("}"))
	if _, ok3 := quickStamp(data); !ok1 || !ok2 || !ok3 {
		return env, false
	}
	return codec.Envelope{Type: string(rest[:n]), Data: data[:len(data):len(data)]}, true
}

// isTypeByte reports whether c may be in a type quickStamped reads.
func isTypeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// quickStamp reads b if it is exactly {"t":<int>,"seq":<int>}, with no
// space, and reports whether it was.
func quickStamp(b []byte) (s stamp, ok bool) {
	if b, ok = bytes.CutPrefix(b, []byte(`{"t":`)); ok {
		s.T, b, ok = quickInt(b)
	}
	if ok {
		b, ok = bytes.CutPrefix(b, []byte(`,"seq":`))
	}
	if ok {
		s.Seq, b, ok = quickInt(b)
	}
	return s, ok && string(b) == "}"
}

// quickInt reads the JSON integer at the start of b, if it fits in an
// int64, and returns it and what follows.
func quickInt(b []byte) (n int64, rest []byte, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	// 19 digits cannot overflow a uint64.
	var u uint64
	i := 0
	for ; i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9'; i++ {
		u = u*10 + uint64(b[i]-'0')
	}
	switch {
	case i == 0 || i == 20 || b[0] == '0' && i > 1:
		return 0, nil, false
	case neg && u <= 1<<63:
		return -int64(u), b[i:], true
	case !neg && u < 1<<63:
		return int64(u), b[i:], true
	}
	return 0, nil, false
}

// delay returns how long ago the stamped event was sent.
func (s stamp) delay() time.Duration { return time.Since(time.Unix(0, s.T)) }

// awaitArrivals waits until count reaches want, or nothing more has
// arrived for quiet, or ctx ends: events still queued on the node when the
// sending stops keep arriving for a while.
func awaitArrivals(ctx context.Context, count func() int64, want int64, quiet time.Duration) {
	last, lastChange := count(), time.Now()
	for last < want && time.Since(lastChange) < quiet {
		if !sleep(ctx, 10*time.Millisecond) {
			return
		}
		if n := count(); n != last {
			last, lastChange = n, time.Now()
		}
	}
}
