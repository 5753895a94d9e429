package pubsub

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// FuzzParseEnvelope checks that parseEnvelope never panics on what Redis
// hands it, and that what envelope.append writes parses back the same.
func FuzzParseEnvelope(f *testing.F) {
	for _, e := range []envelope{
		{kind: kindRequest, seq: 1, from: "node-a", body: []byte("hello")},
		{kind: kindSurvey, seq: 1 << 40, from: "n", body: nil},
		{kind: kindAnswer, seq: 0, from: "", body: []byte{0, 0xff, 0x80}},
		{kind: kindGone, seq: 42, from: "node-b"},
	} {
		f.Add(e.append(nil), e.kind, e.seq, e.from, e.body)
	}
	f.Add([]byte{}, byte(0), uint64(0), "", []byte{})
	f.Add([]byte{'q', 0x80}, byte(0), uint64(0), "", []byte{})                        // seq cut short
	f.Add([]byte{'q', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // from longer than anything
		byte(0), uint64(0), "", []byte{})
	f.Add([]byte{'q', 1, 5, 'a', 'b'}, byte(0), uint64(0), "", []byte{}) // from cut short

	f.Fuzz(func(t *testing.T, raw []byte, kind byte, seq uint64, from string, body []byte) {
		parseEnvelope(raw) // must not panic, whatever it returns

		want := envelope{kind: kind, seq: seq, from: from, body: body}
		b := want.append(nil)
		if len(b) != want.size() {
			t.Fatalf("append(%+v) wrote %d bytes, size says %d", want, len(b), want.size())
		}
		got, err := parseEnvelope(b)
		if err != nil {
			t.Fatalf("parseEnvelope(append(%+v)): %v", want, err)
		}
		if got.kind != want.kind || got.seq != want.seq || got.from != want.from || !bytes.Equal(got.body, want.body) {
			t.Fatalf("round trip of %+v gave %+v", want, got)
		}
	})
}

// FuzzSplitBatch checks that splitBatch never panics on what Redis hands
// it, and that what appendBatch writes, batchSize bytes, splits back into
// the same messages.
func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte{kindBatch, 2, 'h', 'i', 0}, []byte("one"), []byte{})
	f.Add([]byte{kindBatch, 5, 'a'}, []byte("x"), []byte("y"))                 // cut short
	f.Add([]byte{kindBatch, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{}, []byte{}) // longer than anything
	f.Fuzz(func(t *testing.T, raw, m1, m2 []byte) {
		splitBatch(raw, func([]byte) {}) // must not panic, whatever it returns

		msgs := []envelope{
			{kind: kindRequest, seq: uint64(len(m2)) << 20, from: string(m2), body: m1},
			{kind: kindAnswer, seq: 1, from: "node-b", body: m2},
			{kind: kindGone, body: m1},
		}
		b := appendBatch(nil, msgs)
		if len(b) != batchSize(msgs) {
			t.Fatalf("appendBatch(%+v) wrote %d bytes, batchSize says %d", msgs, len(b), batchSize(msgs))
		}
		var got [][]byte
		if err := splitBatch(b, func(m []byte) { got = append(got, m) }); err != nil {
			t.Fatalf("splitBatch(appendBatch(%+v)): %v", msgs, err)
		}
		if len(got) != len(msgs) {
			t.Fatalf("appendBatch(%+v) split into %q", msgs, got)
		}
		for i, e := range msgs {
			if !bytes.Equal(got[i], e.append(nil)) {
				t.Fatalf("appendBatch(%+v) split into %q", msgs, got)
			}
		}
	})
}

func TestSplitBatchRejects(t *testing.T) {
	for name, raw := range map[string][]byte{
		"empty":         {},
		"not a batch":   {kindRequest, 1, 0},
		"length only":   {kindBatch, 0x80},
		"message short": {kindBatch, 3, 'a', 'b'},
		"second short":  {kindBatch, 1, 'a', 2, 'b'},
		"huge length":   {kindBatch, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if err := splitBatch(raw, func([]byte) {}); err == nil {
			t.Errorf("%s: splitBatch(%x) succeeded, want an error", name, raw)
		}
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	for name, raw := range map[string][]byte{
		"empty":          {},
		"kind only":      {kindRequest},
		"seq cut short":  {kindRequest, 0x80},
		"no from length": {kindRequest, 1},
		"from cut short": {kindRequest, 1, 5, 'a', 'b'},
		"huge from":      {kindRequest, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if e, err := parseEnvelope(raw); err == nil {
			t.Errorf("%s: parseEnvelope(%x) = %+v, want an error", name, raw, e)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 4, 5, 123_456_789, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		e    events.Event
	}{
		{"json message", events.Event{Type: events.Message, Agent: "p-1", Node: "n-1", Time: at, Groups: []string{"red", "blue"},
			MessageType: "Chat", MessageID: "m-7", Data: codec.Payload{JSON: []byte(`{"text":"héllo","n":[1,2.5,null]}`)}}},
		{"bytes message", events.Event{Type: events.Message, Agent: "p-1", Node: "n-1", Time: at,
			MessageType: "Blob", Data: codec.Payload{Bytes: []byte{0, 1, 2, 0xff}}}},
		{"disconnected", events.Event{Type: events.Disconnected, Agent: "p-2", Node: "n-1", Time: at, Reason: "kicked"}},
		{"connected before 1970", events.Event{Type: events.Connected, Agent: "p-3", Node: "n-1", Time: time.Unix(-5, 7)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := marshalEvent(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := unmarshalEvent(b)
			if err != nil {
				t.Fatalf("unmarshalEvent(%s): %v", b, err)
			}
			if !sameEvent(got, tc.e) {
				t.Errorf("round trip of %+v gave %+v (via %s)", tc.e, got, b)
			}
		})
	}
}

// TestEventJSONIsCompacted pins down the one thing the stream changes in
// an event: encoding/json writes JSON data compacted, which is the same
// JSON value.
func TestEventJSONIsCompacted(t *testing.T) {
	e := events.Event{Type: events.Message, Data: codec.Payload{JSON: []byte("{\"a\": [1, 2]}\n")}}
	b, err := marshalEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, e.Data.JSON); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data.JSON, want.Bytes()) {
		t.Errorf("Data.JSON = %s, want %s", got.Data.JSON, want.Bytes())
	}
}

func TestUnmarshalEventRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"", "not json", `{"ts":"soon"}`} {
		if e, err := unmarshalEvent([]byte(raw)); err == nil {
			t.Errorf("unmarshalEvent(%q) = %+v, want an error", raw, e)
		}
	}
}
