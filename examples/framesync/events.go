package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

// event is one event of the node's stream, or the news that the stream
// (re)started.
type event struct {
	// kind is the SSE event type (client.EventTypeAgentMessage or
	// client.EventTypeAgentDisconnected), or streamStarted.
	kind client.EventType
	// agent is the event's data.
	agent client.AgentEvent
}

// streamStarted is the kind of the event follow sends each time it has
// connected again after the stream broke: events may have been missed.
const streamStarted client.EventType = "stream.started"

const (
	// streamIdle is how long a stream may stay silent before it counts as
	// dead: the node sends a ping comment every 15 s.
	streamIdle = 40 * time.Second
	// minRetry and maxRetry bound the wait between two connection attempts.
	minRetry, maxRetry = 250 * time.Millisecond, 5 * time.Second
)

// follow reads the node's agent.message and agent.disconnected events into
// out until ctx ends. When the stream breaks it connects again, resuming
// after the last event it delivered (Last-Event-ID), and sends a
// streamStarted event first.
func (n *node) follow(ctx context.Context, out chan<- event, log *slog.Logger) {
	var lastID string
	retry := minRetry
	for attempt := 0; ; attempt++ {
		started := time.Now()
		err := n.stream1(ctx, &lastID, attempt > 0, out, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 2*maxRetry {
			retry = minRetry // it worked for a while: this is a new outage
		}
		log.Warn("event stream broken; retrying", "err", err, "in", retry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, maxRetry)
	}
}

// stream1 reads one connection of the event stream until it breaks, and
// returns why. It keeps *lastID at the id of the last event delivered.
func (n *node) stream1(ctx context.Context, lastID *string, resumed bool, out chan<- event, log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	types := []client.EventType{client.EventTypeAgentMessage, client.EventTypeAgentDisconnected}
	params := &client.StreamEventsParams{Types: &types}
	if *lastID != "" {
		params.LastEventID = lastID
	}
	resp, err := n.stream.StreamEvents(ctx, params)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET /events: %s: %s", resp.Status, b)
	}
	log.Info("following the node's events", "resumed_after", *lastID)
	if resumed {
		select {
		case out <- event{kind: streamStarted}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	idle := time.AfterFunc(streamIdle, func() { cancel(fmt.Errorf("nothing heard for %v", streamIdle)) })
	defer idle.Stop()

	// One field per line; a blank line ends an event; a line starting with
	// ":" is a comment (the ping).
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var kind, id string
	var data strings.Builder
	for sc.Scan() {
		idle.Reset(streamIdle)
		line := sc.Text()
		if line == "" {
			if data.Len() > 0 {
				e := event{kind: client.EventType(kind)}
				if err := json.Unmarshal([]byte(data.String()), &e.agent); err != nil {
					return fmt.Errorf("event %s: %w", id, err)
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
				if id != "" {
					*lastID = id
				}
			}
			kind, id = "", ""
			data.Reset()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			kind = value
		case "id":
			id = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errStreamEnded
}

// errStreamEnded reports a stream the node closed.
var errStreamEnded = errors.New("the node ended the event stream")
