package pubsub

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// Kinds of bus messages.
const (
	kindRequest byte = 'q' // to one node, which answers
	kindSurvey  byte = 's' // to every node, each answers
	kindAnswer  byte = 'a' // an answer to a request or survey
	kindGone    byte = 'g' // instead of an answer: the node closed first
	kindBatch   byte = 'b' // several of the above, in one PUBLISH
)

// envelope is a bus message as it travels through Redis: its kind, the
// sender's sequence number that answers carry back, the sender's node id,
// and the message the Handler sees.
type envelope struct {
	kind byte
	seq  uint64
	from string
	body []byte
}

var errBadEnvelope = errors.New("malformed bus message")

// size is the length of e's encoding.
func (e envelope) size() int {
	return 1 + uvarintLen(e.seq) + uvarintLen(uint64(len(e.from))) + len(e.from) + len(e.body)
}

// uvarintLen is the length of x's uvarint encoding.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// append appends e's encoding, e.size() bytes.
func (e envelope) append(b []byte) []byte {
	b = append(b, e.kind)
	b = binary.AppendUvarint(b, e.seq)
	b = binary.AppendUvarint(b, uint64(len(e.from)))
	b = append(b, e.from...)
	return append(b, e.body...)
}

func parseEnvelope(b []byte) (envelope, error) {
	if len(b) < 1 {
		return envelope{}, errBadEnvelope
	}
	e := envelope{kind: b[0]}
	b = b[1:]
	var n int
	if e.seq, n = binary.Uvarint(b); n <= 0 {
		return envelope{}, errBadEnvelope
	}
	b = b[n:]
	size, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < size {
		return envelope{}, errBadEnvelope
	}
	e.from = string(b[n : n+int(size)])
	e.body = b[n+int(size):]
	return e, nil
}

// appendBatch appends the batch envelope of msgs, batchSize(msgs) bytes:
// its kind, then each message's encoding after its length.
func appendBatch(b []byte, msgs []envelope) []byte {
	b = append(b, kindBatch)
	for _, e := range msgs {
		b = binary.AppendUvarint(b, uint64(e.size()))
		b = e.append(b)
	}
	return b
}

// batchSize is the length of the batch envelope of msgs.
func batchSize(msgs []envelope) int {
	n := 1
	for _, e := range msgs {
		size := e.size()
		n += uvarintLen(uint64(size)) + size
	}
	return n
}

// splitBatch calls fn with each message of a batch envelope, in order,
// until one is cut short, which it reports.
func splitBatch(b []byte, fn func(msg []byte)) error {
	if len(b) < 1 || b[0] != kindBatch {
		return errBadEnvelope
	}
	for b = b[1:]; len(b) > 0; {
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return errBadEnvelope
		}
		fn(b[n : n+int(size)])
		b = b[n+int(size):]
	}
	return nil
}

// streamEvent is an events.Event as the Redis stream keeps it.
type streamEvent struct {
	Type        string          `json:"t"`
	Agent       string          `json:"a"`
	Node        string          `json:"n"`
	UnixNano    int64           `json:"ts"`
	Groups      []string        `json:"g,omitempty"`
	Reason      string          `json:"r,omitempty"`
	MessageType string          `json:"mt,omitempty"`
	MessageID   string          `json:"mi,omitempty"`
	JSON        json.RawMessage `json:"d,omitempty"`
	Bytes       []byte          `json:"b,omitempty"`
}

func marshalEvent(e events.Event) ([]byte, error) {
	return json.Marshal(streamEvent{
		Type: e.Type, Agent: e.Agent, Node: e.Node, UnixNano: e.Time.UnixNano(), Groups: e.Groups,
		Reason: e.Reason, MessageType: e.MessageType, MessageID: e.MessageID,
		JSON: e.Data.JSON, Bytes: e.Data.Bytes,
	})
}

func unmarshalEvent(b []byte) (events.Event, error) {
	var s streamEvent
	if err := json.Unmarshal(b, &s); err != nil {
		return events.Event{}, err
	}
	return events.Event{
		Type: s.Type, Agent: s.Agent, Node: s.Node, Time: time.Unix(0, s.UnixNano), Groups: s.Groups,
		Reason: s.Reason, MessageType: s.MessageType, MessageID: s.MessageID,
		Data: codec.Payload{JSON: s.JSON, Bytes: s.Bytes},
	}, nil
}
