package sockets

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

func TestGroups(t *testing.T) {
	n := startNode(t, nil)
	a := dialWS(t, n, "/ws?id=a")
	b := dialTCP(t, n)
	dialWS(t, n, "/ws?id=c")

	for _, id := range []string{"a", b.id} {
		if err := n.srv.JoinGroup(id, "red"); err != nil {
			t.Fatal(err)
		}
	}
	n.srv.JoinGroup("a", "red") // twice is harmless
	n.srv.JoinGroup("a", "blue")
	if err := n.srv.JoinGroup("nobody", "red"); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("join nobody: %v", err)
	}
	if got := n.srv.PushGroup("red", encoded(n, "Turn", codec.Payload{JSON: []byte(`{"n":1}`)})); got != 2 {
		t.Fatalf("delivered %d, want 2", got)
	}
	if e := a.read(); e.Type != "Turn" {
		t.Fatalf("a got %+v", e)
	}
	if e := b.read(); e.Type != "Turn" {
		t.Fatalf("b got %+v", e)
	}
	info, _ := n.srv.Agent("a")
	if !slices.Equal(info.Groups, []string{"red", "blue"}) {
		t.Fatalf("a's groups %v", info.Groups)
	}

	// Events carry the groups, for the SSE group filter.
	a.write(codec.Envelope{Type: "Chat"})
	e := n.events.waitFor(t, func(e events.Event) bool { return e.Type == events.Message && e.Agent == "a" })
	if !slices.Equal(e.Groups, []string{"red", "blue"}) {
		t.Fatalf("event groups %v", e.Groups)
	}

	n.srv.LeaveGroup("a", "red")
	n.srv.LeaveGroup("a", "green") // not a member: harmless
	if got := n.srv.PushGroup("red", encoded(n, "Turn", codec.Payload{})); got != 1 {
		t.Fatalf("after leave, delivered %d, want 1", got)
	}
	if items, _ := n.srv.List("red", "", 10); len(items) != 1 || items[0].ID != b.id {
		t.Fatalf("red members %+v", items)
	}
	// A departed agent leaves its groups.
	b.conn.Close()
	n.events.waitFor(t, func(e events.Event) bool { return e.Type == events.Disconnected && e.Agent == b.id })
	if got := n.srv.PushGroup("red", encoded(n, "Turn", codec.Payload{})); got != 0 {
		t.Fatalf("after leaving, delivered %d", got)
	}
}

func TestListAndAgent(t *testing.T) {
	n := startNode(t, nil)
	for _, id := range []string{"d", "b", "a", "c", "e"} {
		dialWS(t, n, "/ws?id="+id)
	}
	var pages [][]string
	after := ""
	for {
		items, more := n.srv.List("", after, 2)
		var ids []string
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		pages = append(pages, ids)
		if !more {
			break
		}
		after = items[len(items)-1].ID
	}
	if got := slices.Concat(pages...); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) || len(pages) != 3 {
		t.Fatalf("pages %v", pages)
	}
	info, err := n.srv.Agent("c")
	if err != nil {
		t.Fatal(err)
	}
	if info.Node != "test-node" || info.Transport != "ws" || info.Codec != "json" || info.RemoteAddr == "" ||
		time.Since(info.ConnectedAt) > time.Minute || info.LastSeen.Before(info.ConnectedAt) {
		t.Fatalf("info %+v", info)
	}
	if _, err := n.srv.Agent("zz"); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("Agent(zz): %v", err)
	}
}

// TestDrain: on shutdown, new calls are refused at once, and a pending
// call may still be answered within --drain-timeout; the drain ends as
// soon as no call is left.
func TestDrain(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.DrainTimeout = time.Minute })
	answers := dialWS(t, n, "/ws")
	ctx := context.Background()

	answered := make(chan error, 1)
	go func() {
		_, err := n.srv.Call(ctx, answers.id, "Work", codec.Payload{})
		answered <- err
	}()
	call := answers.read()

	shutdown := make(chan error, 1)
	go func() { shutdown <- n.srv.Shutdown(ctx) }()
	until(t, "the drain begins", n.srv.draining)
	late, cancel := context.WithTimeout(ctx, 5*time.Second) // refused at once, or never
	defer cancel()
	if _, err := n.srv.Call(late, answers.id, "Late", codec.Payload{}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("new call while draining: %v, want ErrShuttingDown", err)
	}
	answers.write(codec.Envelope{Type: "Reply", ID: call.ID})
	if err := <-answered; err != nil {
		t.Fatalf("call answered while draining: %v", err)
	}
	answers.expectClose()
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
}

// TestDrainTimeout: a call still unanswered when --drain-timeout ends
// fails with ErrShuttingDown then, not before.
func TestDrainTimeout(t *testing.T) {
	const drain = 100 * time.Millisecond
	n := startNode(t, func(c *config.Config) { c.DrainTimeout = drain })
	silent := dialWS(t, n, "/ws")
	ctx := context.Background()

	unanswered := make(chan error, 1)
	go func() {
		_, err := n.srv.Call(ctx, silent.id, "Work", codec.Payload{})
		unanswered <- err
	}()
	silent.read()
	start := time.Now()
	shutdown := make(chan error, 1)
	go func() { shutdown <- n.srv.Shutdown(ctx) }()
	if err := <-unanswered; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("unanswered call: %v, want ErrShuttingDown", err)
	}
	if took := time.Since(start); took < drain {
		t.Fatalf("the unanswered call failed %v into the drain, before its %v end", took, drain)
	}
	silent.expectClose()
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
}
