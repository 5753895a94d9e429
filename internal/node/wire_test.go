package node

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, q := range []request{
		{op: opCall, agent: "p1", typ: "Ask", data: codec.Payload{JSON: []byte(`{"a":1}`)}, timeout: 5 * time.Second},
		{op: opPush, agent: "p1", typ: "Notice", data: codec.Payload{Bytes: []byte{0, 1, 2}}},
		{op: opKick, agent: "p1", reason: "replaced", session: 42},
		{op: opList, group: "room", after: "p0", limit: 100},
		{op: opBroadcast, typ: "Tick"},
	} {
		got, err := parseRequest(q.append(nil))
		if err != nil || !reflect.DeepEqual(got, q) {
			t.Errorf("round trip of %+v: %+v, %v", q, got, err)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	for _, res := range []response{
		{status: statusOK, data: codec.Payload{JSON: []byte(`"ok"`)}},
		{status: statusReplyError, code: 404, msg: "no such level"},
		{status: statusOK, delivered: 5000},
		{status: statusOK, more: true, agents: []sockets.Info{{
			ID: "p1", Node: "a", Transport: "ws", Codec: "json", RemoteAddr: "127.0.0.1:1",
			ConnectedAt: at, LastSeen: at.Add(time.Second), Groups: []string{"g1", "g2"},
		}}},
	} {
		got, err := parseResponse(res.append(nil))
		if err != nil || !reflect.DeepEqual(got, res) {
			t.Errorf("round trip of %+v: %+v, %v", res, got, err)
		}
	}
}

// TestErrorsCrossTheBus: every error a node's agents can answer with is
// the same error, for errors.Is, on the node that asked.
func TestErrorsCrossTheBus(t *testing.T) {
	for _, err := range []error{
		ErrAgentGone, ErrQueueFull, ErrTimeout, ErrShuttingDown, ErrMessageTooBig,
		codec.ErrNotJSON, codec.ErrMalformed, ErrBadReply, ErrTooManyCalls, ErrTooManyGroups, ErrOverloaded,
	} {
		res := respond(codec.Payload{}, err)
		parsed, perr := parseResponse(res.append(nil))
		if perr != nil || !errors.Is(parsed.err(), err) {
			t.Errorf("%v crossed as %v (%v)", err, parsed.err(), perr)
		}
	}
	parsed, _ := parseResponse(respond(codec.Payload{}, sockets.ErrAgentNotFound).append(nil))
	if !errors.Is(parsed.err(), errNotHere) {
		t.Errorf("not found crossed as %v, want errNotHere", parsed.err())
	}
	parsed, _ = parseResponse(respond(codec.Payload{}, &ReplyError{Code: 7, Msg: "no"}).append(nil))
	var reply *ReplyError
	if !errors.As(parsed.err(), &reply) || reply.Code != 7 || reply.Msg != "no" {
		t.Errorf("reply error crossed as %v", parsed.err())
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add((&request{op: opCall, agent: "p1", typ: "Ask", data: codec.Payload{JSON: []byte(`{}`)}, timeout: time.Second}).append(nil))
	f.Add((&request{op: opList, group: "g", after: "x", limit: 10}).append(nil))
	f.Add([]byte{})
	f.Add([]byte{opCall, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseRequest(b)
		if err != nil {
			return
		}
		again, err := parseRequest(q.append(nil))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("%+v does not round-trip: %+v, %v", q, again, err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add((&response{status: statusOK, data: codec.Payload{Bytes: []byte{1}}}).append(nil))
	f.Add((&response{agents: []sockets.Info{{ID: "a", Groups: []string{"g"}}}, more: true}).append(nil))
	f.Add([]byte{0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseResponse(b)
		if err != nil {
			return
		}
		if again := res.append(nil); !bytes.Equal(again, res.append(nil)) {
			t.Fatal("encoding is not deterministic")
		}
		if _, err := parseResponse(res.append(nil)); err != nil {
			t.Fatalf("%+v does not parse back: %v", res, err)
		}
	})
}
