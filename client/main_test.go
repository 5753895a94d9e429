package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// TestMain runs the examples against a real node of their own, with an
// API key and two game clients: u42, which answers GetScore calls with a
// score of 1200, and p1, which connects and leaves each time an event
// stream opens.
func TestMain(m *testing.M) {
	cfg := config.Default()
	cfg.NodeID = "example-node"
	cfg.APIKey = "an-api-key-for-the-examples"
	os.Setenv("HOTPOT_API_KEY", cfg.APIKey)
	nd := node.New(cfg, node.Options{Broker: pubsub.NewMemory(cfg.NodeID, cfg.EventRetention, cfg.EventRetentionBytes)})
	nd.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	var ws string // the node's WebSocket URL, with ?id=
	p1 := func() { dial(ctx, ws+"p1").Close(websocket.StatusNormalClosure, "bye") }
	hs := httptest.NewServer(onEventStream(httpapi.New(cfg, nd, slog.New(slog.DiscardHandler)).Router(), func() { clients.Go(p1) }))
	nodeURL = hs.URL
	ws = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?id="

	// u42 is connected, and its agent.connected is behind every stream, by
	// the time the examples run.
	sub, _ := nd.Events().Subscribe(events.Filter{Agent: "u42"}, "")
	u42 := dial(ctx, ws+"u42")
	for buf, wake, _ := sub.Read(nil); len(buf) == 0; buf, wake, _ = sub.Read(nil) {
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			panic("u42's agent.connected did not come")
		}
	}
	sub.Close()
	clients.Go(func() { answerGetScore(ctx, u42) })

	code := m.Run()
	cancel()
	clients.Wait()
	shutdown, stop := context.WithTimeout(context.Background(), 10*time.Second)
	nd.Shutdown(shutdown)
	stop()
	hs.Close()
	http.DefaultClient.CloseIdleConnections() // the examples' client's
	if err := goleak.Find(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// onEventStream calls opened each time a response of GET /events starts,
// which is once its stream is subscribed.
func onEventStream(h http.Handler, opened func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w = &startHook{ResponseWriter: w, started: opened}
		}
		h.ServeHTTP(w, r)
	})
}

// startHook calls started when a 200 response starts.
type startHook struct {
	http.ResponseWriter
	started func()
}

// WriteHeader starts the response, and calls started for a 200.
func (h *startHook) WriteHeader(code int) {
	h.ResponseWriter.WriteHeader(code)
	if code == http.StatusOK {
		h.started()
	}
}

// Unwrap gives http.ResponseController the response writer underneath.
func (h *startHook) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// dial connects a game client and reads its Welcome; it panics if it
// cannot, as TestMain has no test to fail.
func dial(ctx context.Context, url string) *websocket.Conn {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	if _, _, err := conn.Read(ctx); err != nil {
		panic(err)
	}
	return conn
}

// answerGetScore answers the calls conn gets with a score of 1200, and
// Pings with Pongs, until ctx ends.
func answerGetScore(ctx context.Context, conn *websocket.Conn) {
	defer conn.CloseNow()
	for {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var in struct{ Type, ID string }
		json.Unmarshal(frame, &in)
		out := []byte(`{"type":"Pong"}`)
		if in.ID != "" {
			out, _ = json.Marshal(map[string]any{"type": "Reply", "id": in.ID, "data": map[string]int{"score": 1200}})
		} else if in.Type != "Ping" {
			continue
		}
		if err := conn.Write(ctx, websocket.MessageText, out); err != nil {
			return
		}
	}
}
