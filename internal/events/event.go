// Package events owns what web services see of agents: the Event type, the
// node's ordered log of recent events, and its Server-Sent-Events form.
// Agents append to the Log; every SSE subscriber reads from it at its own
// pace, so a slow subscriber never holds up agents or other subscribers.
package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// Event types.
const (
	Connected    = "agent.connected"
	Disconnected = "agent.disconnected"
	Message      = "agent.message"
)

// Event is something an agent did.
type Event struct {
	// Type is Connected, Disconnected or Message.
	Type string
	// Agent is the agent's id; Node the id of the node that owns it.
	Agent, Node string
	// Time is when the node saw it happen.
	Time time.Time
	// Groups are the agent's groups when it happened; the SSE group filter
	// matches on them.
	Groups []string
	// Reason says why an agent disconnected (Disconnected only).
	Reason string
	// MessageType, MessageID and Data describe a Message.
	MessageType, MessageID string
	Data                   codec.Payload
}

// ID orders events: the millisecond the log took the event, then a
// sequence number within that millisecond. Its text form is "ms-seq", as
// Redis stream ids are.
type ID struct {
	MS, Seq uint64
}

// String returns the text form "ms-seq".
func (id ID) String() string {
	return strconv.FormatUint(id.MS, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// Less reports whether id comes before other.
func (id ID) Less(other ID) bool {
	return id.MS < other.MS || id.MS == other.MS && id.Seq < other.Seq
}

// Compare returns -1, 0 or +1 as id comes before, is, or comes after other.
func (id ID) Compare(other ID) int {
	switch {
	case id.Less(other):
		return -1
	case other.Less(id):
		return 1
	}
	return 0
}

// NextID returns the id of an event at t that follows last: t's
// millisecond, or last's millisecond with the next sequence number when t
// is not later (same millisecond, or a clock that went back).
func NextID(last ID, t time.Time) ID {
	if t.IsZero() {
		t = time.Now()
	}
	if id := (ID{MS: uint64(t.UnixMilli())}); last.Less(id) {
		return id
	}
	return ID{MS: last.MS, Seq: last.Seq + 1}
}

// ParseID reads the text form of an ID.
func ParseID(s string) (ID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return ID{}, fmt.Errorf("event id %q: want ms-seq", s)
	}
	var id ID
	var err error
	if id.MS, err = strconv.ParseUint(ms, 10, 64); err != nil {
		return ID{}, fmt.Errorf("event id %q: %w", s, err)
	}
	if id.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return ID{}, fmt.Errorf("event id %q: %w", s, err)
	}
	return id, nil
}

// Data is the JSON an SSE subscriber receives as an event's data.
type Data struct {
	Agent      string          `json:"agent"`
	Node       string          `json:"node"`
	TS         time.Time       `json:"ts"`
	Reason     string          `json:"reason,omitempty"`
	Type       string          `json:"type,omitempty"`
	ID         string          `json:"id,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	DataBase64 []byte          `json:"data_base64,omitempty"`
}

// sseFrame encodes e, with id, as one Server-Sent-Events frame.
func sseFrame(id ID, e Event) []byte {
	d := Data{Agent: e.Agent, Node: e.Node, TS: e.Time.UTC(), Reason: e.Reason, Type: e.MessageType, ID: e.MessageID}
	if e.Type == Message {
		d.Data, d.DataBase64 = e.Data.JSON, e.Data.Bytes
		if d.Data == nil && d.DataBase64 == nil {
			d.Data = json.RawMessage("null")
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		// Only invalid JSON in Data can fail; codecs hand over valid JSON.
		d.Data = json.RawMessage("null")
		data, _ = json.Marshal(d)
	}
	frame := make([]byte, 0, len(data)+len(e.Type)+48)
	frame = append(frame, "event: "...)
	frame = append(frame, e.Type...)
	frame = append(frame, "\nid: "...)
	frame = append(frame, id.String()...)
	frame = append(frame, "\ndata: "...)
	frame = append(frame, data...)
	return append(frame, "\n\n"...)
}
