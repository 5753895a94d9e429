package main

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// TestStampRoundTrip: the data of a stamped event's request body, as an
// agent of any codec receives it, gives back the stamp.
func TestStampRoundTrip(t *testing.T) {
	before := time.Now().UnixNano()
	body := stampedEvent("PushBench", 42)
	after := time.Now().UnixNano()
	var req struct {
		Type string
		Data json.RawMessage
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if req.Type != "PushBench" {
		t.Errorf("type %q, want PushBench", req.Type)
	}
	for _, name := range []string{"json", "msgpack", "proto"} {
		c, _ := codec.Lookup(name)
		data, err := c.Data(codec.Payload{JSON: req.Data})
		if err != nil {
			t.Fatal(err)
		}
		s, err := stampOf(c, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Seq != 42 || s.T < before || s.T > after {
			t.Errorf("%s: stamp %+v, want seq 42 and t in [%d, %d]", name, s, before, after)
		}
	}
}

func TestAwaitArrivals(t *testing.T) {
	const quiet = 50 * time.Millisecond
	took := func(ctx context.Context, count func() int64, want int64) time.Duration {
		start := time.Now()
		awaitArrivals(ctx, count, want, quiet)
		return time.Since(start)
	}
	if d := took(t.Context(), func() int64 { return 5 }, 5); d > quiet/2 {
		t.Errorf("all arrived: waited %v, want no wait", d)
	}
	if d := took(t.Context(), func() int64 { return 4 }, 5); d < quiet || d > 10*quiet {
		t.Errorf("one missing, nothing arriving: waited %v, want about %v", d, quiet)
	}
	// Arrivals that keep coming keep it waiting past quiet, until the last.
	var n int64
	if d := took(t.Context(), func() int64 { n++; return min(n/2, 10) }, 100); d < quiet+20*time.Millisecond {
		t.Errorf("arrivals coming for ~200ms: waited only %v", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d := took(ctx, func() int64 { return 0 }, 5); d > quiet/2 {
		t.Errorf("canceled: waited %v, want no wait", d)
	}
}

// TestQuickStamp: the data as stampedEvent writes it is read directly;
// any other form falls back to encoding/json and reads the same.
func TestQuickStamp(t *testing.T) {
	tests := []struct {
		data  string
		quick bool // read directly
		want  stamp
	}{
		{`{"t":1764467000123456789,"seq":0}`, true, stamp{1764467000123456789, 0}},
		{`{"t":0,"seq":123}`, true, stamp{0, 123}},
		{`{"t":-5,"seq":-1}`, true, stamp{-5, -1}},
		{`{"t":9223372036854775807,"seq":-9223372036854775808}`, true, stamp{math.MaxInt64, math.MinInt64}},
		{`{"t":9223372036854775808,"seq":7}`, false, stamp{}},
		{`{"t":99999999999999999999,"seq":7}`, false, stamp{}},
		{`{"seq":7,"t":42}`, false, stamp{42, 7}},
		{`{ "t": 42, "seq": 7 }`, false, stamp{42, 7}},
		{`{"t":42,"seq":7,"x":1}`, false, stamp{42, 7}},
		{`{"t":42,"seq":7}}`, false, stamp{}},
		{`{"t":042,"seq":7}`, false, stamp{}},
		{`{"t":,"seq":7}`, false, stamp{}},
		{`{"t":-,"seq":7}`, false, stamp{}},
		{`{"t":4.2,"seq":7}`, false, stamp{}},
	}
	for _, tt := range tests {
		got, ok := quickStamp([]byte(tt.data))
		if ok != tt.quick || ok && got != tt.want {
			t.Errorf("quickStamp(%s) = %+v, %v; want %+v, %v", tt.data, got, ok, tt.want, tt.quick)
		}
		var want stamp
		wantErr := json.Unmarshal([]byte(tt.data), &want)
		got, err := stampOf(codec.JSON, []byte(tt.data))
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Errorf("stampOf(%s) = %+v, %v; encoding/json reads %+v, %v", tt.data, got, err, want, wantErr)
		}
	}
	if got, ok := quickStamp(stampedEventData(t, 42)); !ok || got.Seq != 42 {
		t.Errorf("the data of stampedEvent is not read directly: %+v, %v", got, ok)
	}
}

// stampedEventData returns the data of a stampedEvent with seq, as the
// node passes it on to a JSON agent.
func stampedEventData(t *testing.T, seq int64) []byte {
	t.Helper()
	var req struct{ Data json.RawMessage }
	if err := json.Unmarshal(stampedEvent(benchType, seq), &req); err != nil {
		t.Fatal(err)
	}
	return req.Data
}

// TestQuickStamped: a JSON frame of a stamped event, as the node writes
// it, is read directly, and decodes as codec.JSON decodes it; any other
// frame goes through codec.JSON.
func TestQuickStamped(t *testing.T) {
	stamped := string(stampedEventData(t, 42))
	tests := []struct {
		frame string
		quick bool
	}{
		{`{"type":"BroadcastBench","data":` + stamped + `}`, true},
		{`{"type":"Push_Bench.v-2","data":{"t":1,"seq":2}}`, true},
		{`{"type":"Ping"}`, false},
		{`{"type":"Welcome","data":{"id":"x"}}`, false},
		{`{"type":"BroadcastBench","data":{"t":1,"seq":2},"id":"7"}`, false},
		{`{"type":"Broadcast\u0042ench","data":{"t":1,"seq":2}}`, false},
		{`{"type":"","data":{"t":1,"seq":2}}`, false},
		{`{"type":"` + strings.Repeat("x", codec.MaxTypeBytes) + `","data":{"t":1,"seq":2}}`, true},
		{`{"type":"` + strings.Repeat("x", codec.MaxTypeBytes+1) + `","data":{"t":1,"seq":2}}`, false},
		{`{"type":"BroadcastBench","data":{"t":1,"seq":2}`, false},
		{`{"type":"BroadcastBench","data":{"t":1,"seq":2}} `, false},
		{`{"type":"BroadcastBench", "data":{"t":1,"seq":2}}`, false},
	}
	p := &protocol{codec: codec.JSON}
	for _, tt := range tests {
		_, quick := quickStamped([]byte(tt.frame))
		if quick != tt.quick {
			t.Errorf("quickStamped(%.60s…) read it: %v, want %v", tt.frame, quick, tt.quick)
		}
		got, err := p.decode([]byte(tt.frame))
		want, wantErr := codec.JSON.Decode([]byte(tt.frame))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("decode(%.60s…) = %+v, %v; codec.JSON decodes %+v, %v", tt.frame, got, err, want, wantErr)
		}
	}
}

// FuzzQuickStamped: what is read directly decodes as codec.JSON and
// encoding/json decode it.
func FuzzQuickStamped(f *testing.F) {
	f.Add([]byte(`{"type":"BroadcastBench","data":{"t":1764467000123456789,"seq":0}}`))
	f.Add([]byte(`{"type":"X","data":{"t":-0,"seq":9223372036854775807}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if env, ok := quickStamped(frame); ok {
			want, err := codec.JSON.Decode(frame)
			if err != nil || !reflect.DeepEqual(env, want) {
				t.Fatalf("quickStamped(%q) = %+v; codec.JSON decodes %+v, %v", frame, env, want, err)
			}
		}
		if s, ok := quickStamp(frame); ok {
			var want stamp
			if err := json.Unmarshal(frame, &want); err != nil || s != want {
				t.Fatalf("quickStamp(%q) = %+v; encoding/json reads %+v, %v", frame, s, want, err)
			}
		}
	})
}
