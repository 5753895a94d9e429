package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

const testSecret = "a-soak-test-secret-of-32-bytes-at-least"

// startSoakNode starts a node in this process as bench/soak.sh starts
// one, with --jwt-secret and a TCP port, and limits small enough for a
// few misbehavers to reach them. It returns its WebSocket URL, TCP
// address and REST base URL.
func startSoakNode(t *testing.T) (ws, tcp, api string) {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = "soak"
	cfg.JWTSecret = testSecret
	cfg.MaxMessageBytes = 16384
	cfg.MaxHandshakesPerIP = 4
	cfg.MaxPendingCalls = 16
	nd := node.New(cfg, node.Options{Broker: pubsub.NewMemory(cfg.NodeID, cfg.EventRetention, cfg.EventRetentionBytes)})
	nd.Start()
	hs := httptest.NewServer(httpapi.New(cfg, nd, slog.New(slog.DiscardHandler)).Router())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- nd.ServeTCP(ln) }()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nd.Shutdown(ctx)
		hs.Close()
		<-served
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", ln.Addr().String(), hs.URL
}

// TestSoakSmoke runs the soak mode for a moment, small, against a node in
// this process: every misbehaviour runs, the well-behaved agents lose
// nothing, and the misbehaviours quick enough to show in so short a run
// meet their defences. (Whether the delay stays within noise is not
// checked: in a test run it is all noise.)
func TestSoakSmoke(t *testing.T) {
	ws, tcp, api := startSoakNode(t)
	args := []string{"soak", "-url", ws, "-tcp", tcp, "-api", api, "-jwt-secret", testSecret,
		"-n", "30", "-m", strconv.Itoa(len(misbehaviours)), "-d", "1s", "-warmup", "1s",
		"-call-rate", "50", "-broadcast-rate", "5", "-max-message-bytes", "16384",
		"-hold-conns", "6", "-pile-calls", "20", "-pause", "50ms", "-pid", strconv.Itoa(os.Getpid())}
	var out, errs bytes.Buffer
	if status := run(args, &out, &errs); status != 0 {
		t.Fatalf("exit %d\n%s\n%s", status, &out, &errs)
	}
	line, ok := strings.CutPrefix(lastLine(out.String()), "json")
	var r soakResult
	if !ok || json.Unmarshal([]byte(line), &r) != nil {
		t.Fatalf("no JSON line in\n%s", &out)
	}
	if r.Mode != "soak" || len(r.Phases) != 2 || !r.Verdict.NothingLost {
		t.Fatalf("result %+v\n%s", r, &out)
	}
	for _, p := range r.Phases {
		if p.CallsOK == 0 || p.Deliveries == 0 || p.AgentsClosed != 0 || p.Lost != 0 {
			t.Fatalf("phase %s: %+v\n%s", p.Name, p, &out)
		}
	}
	kinds := map[string]kindResult{}
	for _, k := range r.Phases[1].Misbehaviour {
		kinds[k.Kind] = k
	}
	if len(kinds) != len(misbehaviours) {
		t.Fatalf("%d misbehaviours ran, want %d\n%s", len(kinds), len(misbehaviours), &out)
	}
	for _, name := range []string{"flood", "oversize", "malformed", "bad-token"} {
		if k := kinds[name]; len(k.Missing) > 0 || k.Unexpected > 0 {
			t.Errorf("%s: defences not seen %q, unexpected %d (%s)", name, k.Missing, k.Unexpected, k.FirstUnexpected)
		}
	}
	t.Logf("output:\n%s", &out)
}
