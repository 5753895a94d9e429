package main

import (
	"context"
	"encoding/json"
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
