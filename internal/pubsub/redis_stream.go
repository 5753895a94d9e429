package pubsub

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// readBlock is how long one XREAD waits for entries; Read waits longer
// by reading again.
const readBlock = 500 * time.Millisecond

// eventField is the field of a stream entry that holds the event.
const eventField = "e"

// Append adds evs to the stream in one pipeline, trimming it to about
// the retention.
func (r *Redis) Append(ctx context.Context, evs []events.Event) error {
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range evs {
			b, err := marshalEvent(e)
			if err != nil {
				return err
			}
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: r.keys.events(),
				MaxLen: r.retention,
				Approx: true,
				Values: []any{eventField, b},
			})
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Read returns up to count entries after after, waiting for one.
func (r *Redis) Read(ctx context.Context, after events.ID, count int) ([]Entry, error) {
	for {
		streams, err := r.client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{r.keys.events(), after.String()},
			Count:   int64(count),
			Block:   readBlock,
		}).Result()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return nil, unavailable(err)
		}
		var out []Entry
		for _, s := range streams {
			out = r.appendEntries(out, s.Messages)
		}
		if len(out) > 0 {
			r.trimToWindow(ctx)
			return out, nil
		}
	}
}

// Newest returns up to count of the newest entries.
func (r *Redis) Newest(ctx context.Context, count int) ([]Entry, error) {
	msgs, err := r.client.XRevRangeN(ctx, r.keys.events(), "+", "-", int64(count)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	slices.Reverse(msgs)
	out := r.appendEntries(nil, msgs)
	r.trimToWindow(ctx)
	return out, nil
}

// trimToWindow trims the stream's entries older than the byte window,
// once the window has moved on by an eighth of its size since the last
// trim. A failure is left for the next read to mend.
func (r *Redis) trimToWindow(ctx context.Context) {
	minID, ok := r.window.trimPoint()
	if !ok {
		return
	}
	if err := r.client.XTrimMinIDApprox(ctx, r.keys.events(), minID.String(), 0).Err(); err != nil {
		r.log.Debug("trimming the event stream", "err", err)
	}
}

// appendEntries decodes stream messages; one that does not decode is
// logged and skipped.
func (r *Redis) appendEntries(out []Entry, msgs []redis.XMessage) []Entry {
	for _, m := range msgs {
		id, err := events.ParseID(m.ID)
		if err != nil {
			r.log.Warn("skipping stream entry", "id", m.ID, "err", err)
			continue
		}
		s, _ := m.Values[eventField].(string)
		e, err := unmarshalEvent([]byte(s))
		if err != nil {
			r.log.Warn("skipping stream entry", "id", m.ID, "err", err)
			continue
		}
		out = append(out, Entry{ID: id, Event: e})
		r.window.add(id, len(m.ID)+len(s))
	}
	return out
}
