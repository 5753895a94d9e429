package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// TestClockReachesClients runs the clock's broadcast against a real node
// with a connected WebSocket client.
func TestClockReachesClients(t *testing.T) {
	cfg := config.Default()
	cfg.NodeID = "n1"
	log := events.NewLog(cfg.EventRetention)
	m := metrics.New(log.Subscribers)
	socks := sockets.New(cfg, sockets.Options{Sink: log.Append, Metrics: m})
	stopping := make(chan struct{})
	hs := httptest.NewServer(httpapi.New(cfg, socks, log, m, nil, stopping).Router())
	defer func() {
		close(stopping)
		hs.Close()
		socks.Shutdown(context.Background())
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil { // Welcome
		t.Fatal(err)
	}

	c, err := client.NewClientWithResponses(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	delivered, err := broadcastTime(ctx, c, now)
	if err != nil || delivered != 1 {
		t.Fatalf("delivered %d, %v", delivered, err)
	}
	_, frame, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type string
		Data struct{ Time string }
	}
	if err := json.Unmarshal(frame, &got); err != nil || got.Type != "Clock" || got.Data.Time != "2026-11-25T03:00:00Z" {
		t.Fatalf("client got %s (%v)", frame, err)
	}
}
