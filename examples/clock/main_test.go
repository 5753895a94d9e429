package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// TestClockReachesClients runs the clock's broadcast against a real node
// with a connected WebSocket client.
func TestClockReachesClients(t *testing.T) {
	cfg := config.Default()
	cfg.NodeID = "n1"
	nd := node.New(cfg, node.Options{Broker: pubsub.NewMemory(cfg.NodeID, cfg.EventRetention, cfg.EventRetentionBytes)})
	nd.Start()
	hs := httptest.NewServer(httpapi.New(cfg, nd, slog.New(slog.DiscardHandler)).Router())
	defer func() {
		nd.Shutdown(context.Background())
		hs.Close()
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
