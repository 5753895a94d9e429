// Command clock broadcasts the time to every connected client through the
// REST API, every 5 seconds: a web service in a few lines, as the seed's
// afterfunc example was a timer in a game server.
//
//	go run ./examples/clock -url http://127.0.0.1:8848 -every 5s
//
// Each client receives {"type":"Clock","data":{"time":"2026-11-25T03:00:00Z"}}.
// With an API key set on the node, pass it with -key or HOTPOT_API_KEY.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8848", "the node's HTTP address")
	key := flag.String("key", os.Getenv("HOTPOT_API_KEY"), "the node's API key, if it has one")
	every := flag.Duration("every", 5*time.Second, "how often to broadcast the time")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *key, *every); err != nil {
		slog.Error("clock stopped", "err", err)
		os.Exit(1)
	}
}

// run broadcasts the time every interval until ctx ends.
func run(ctx context.Context, url, key string, every time.Duration) error {
	c, err := client.NewClientWithResponses(url,
		client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			return nil
		}))
	if err != nil {
		return err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		delivered, err := broadcastTime(ctx, c, time.Now())
		if err != nil {
			slog.Warn("broadcast failed", "err", err)
		} else {
			slog.Info("broadcast the time", "delivered", delivered)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// broadcastTime sends now to every agent and returns how many got it.
func broadcastTime(ctx context.Context, c *client.ClientWithResponses, now time.Time) (int, error) {
	data, err := json.Marshal(map[string]string{"time": now.UTC().Format(time.RFC3339)})
	if err != nil {
		return 0, err
	}
	res, err := c.BroadcastWithResponse(ctx, nil, client.EventRequest{Type: "Clock", Data: data})
	if err != nil {
		return 0, err
	}
	if res.JSON200 == nil {
		return 0, fmt.Errorf("%s: %s", res.Status(), res.Body)
	}
	return res.JSON200.Delivered, nil
}
