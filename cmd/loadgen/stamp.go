package main

import (
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

// stampOf reads the stamp out of a stamped event's data.
func stampOf(c codec.Codec, data []byte) (stamp, error) {
	p, err := c.Payload(data)
	if err != nil {
		return stamp{}, err
	}
	var s stamp
	err = json.Unmarshal(p.Raw(), &s)
	return s, err
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
