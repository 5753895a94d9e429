package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/httpapi"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// startTestNode starts a node in this process, with the default config
// changed by tweak and a TCP port; it stops when the test ends. It
// returns its WebSocket URL, TCP address and REST base URL.
func startTestNode(t *testing.T, tweak func(*config.Config)) (ws, tcp, api string) {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = "loadgen-test"
	tweak(&cfg)
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

// TestEveryModeAgainstARealNode runs each subcommand for a moment against
// a node in this process, and checks its JSON line: it measured
// operations, lost none, and reported the server's CPU (here, this
// process's; over so short a run it may be 0 ticks).
func TestEveryModeAgainstARealNode(t *testing.T) {
	ws, _, api := startTestNode(t, func(cfg *config.Config) {
		cfg.RateLimit = 0 // echo and call clients send as fast as they can
	})
	pid := strconv.Itoa(os.Getpid())
	profile := filepath.Join(t.TempDir(), "echo.pprof")
	for _, args := range [][]string{
		{"echo", "-url", ws, "-c", "4", "-d", "300ms", "-pid", pid, "-cpuprofile", profile},
		{"call", "-url", ws, "-api", api, "-agents", "4", "-c", "2", "-d", "300ms", "-pid", pid},
		{"push", "-url", ws, "-api", api, "-agents", "4", "-c", "2", "-d", "300ms", "-pid", pid},
		{"broadcast", "-url", ws, "-api", api, "-n", "20", "-per-sec", "20", "-d", "300ms", "-pid", pid},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errs bytes.Buffer
			if status := run(args, &out, &errs); status != 0 {
				t.Fatalf("exit %d\n%s\n%s", status, &out, &errs)
			}
			line, ok := strings.CutPrefix(lastLine(out.String()), "json")
			var r result
			if !ok || json.Unmarshal([]byte(line), &r) != nil {
				t.Fatalf("no JSON line in\n%s", &out)
			}
			if r.Mode != args[0] || r.Ops == 0 || r.Lost != 0 || r.Duplicates != 0 || r.Failed != 0 || !strings.Contains(out.String(), "server cpu") {
				t.Fatalf("result %+v\n%s", r, &out)
			}
			for _, span := range []string{"measuring", "measured"} {
				if !regexp.MustCompile(`msg=` + span + ` .*cpu_s=`).MatchString(errs.String()) {
					t.Errorf("no %q line with cpu_s in the log:\n%s", span, &errs)
				}
			}
		})
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("-cpuprofile wrote no profile: %v", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, as /proc allows.
	stat := "4242 (hot pot (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("got %v, %v; want 3s (300 ticks)", got, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}
