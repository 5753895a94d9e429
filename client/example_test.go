package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/hotpot-rt/hotpot/client"
)

// nodeURL is the node the examples talk to: one started with
// go run ./cmd/server, or, when they run as tests, the one TestMain starts.
var nodeURL = "http://127.0.0.1:8848"

// bearer returns a client option that sends key as the API key.
func bearer(key string) client.ClientOption {
	return client.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
}

func ExampleClientWithResponses_CallAgentWithResponse() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses(nodeURL, bearer(os.Getenv("HOTPOT_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	timeout := 2000
	res, err := c.CallAgentWithResponse(ctx, "u42", client.CallRequest{
		Type:      "GetScore",
		Data:      json.RawMessage(`{"level":3}`),
		TimeoutMs: &timeout,
	})
	if err != nil {
		log.Fatal(err)
	}
	switch {
	case res.JSON200 != nil:
		var reply struct{ Score int }
		if err := json.Unmarshal(res.JSON200.Data, &reply); err != nil {
			log.Fatal(err)
		}
		fmt.Println("score:", reply.Score)
	case res.ApplicationProblemJSON502 != nil:
		// The client replied with an error; hotpot passes on its code and msg.
		if p := res.ApplicationProblemJSON502; p.Code != nil && p.Msg != nil {
			fmt.Printf("the client refused: %d %s\n", *p.Code, *p.Msg)
		}
	case res.ApplicationProblemJSON504 != nil:
		fmt.Println("no reply in time")
	default:
		fmt.Printf("%s: %s\n", res.Status(), res.Body)
	}
	// Output: score: 1200
}

func ExampleClient_StreamEvents() {
	ctx := context.Background()
	c, err := client.NewClient(nodeURL, bearer(os.Getenv("HOTPOT_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	types := []client.EventType{client.EventTypeAgentConnected, client.EventTypeAgentDisconnected}
	resp, err := c.StreamEvents(ctx, &client.StreamEventsParams{Types: &types})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("GET /events: %s", resp.Status)
	}
	// One field per line; a blank line ends an event; lines starting with
	// ":" are comments (the 15 s ping). Remember the last id to resume with
	// Last-Event-ID after a disconnection. Here a client, p1, comes and
	// goes.
	var event, lastID string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20) // a data line can exceed bufio's default 64 KiB
	for sc.Scan() {
		field, value, _ := strings.Cut(sc.Text(), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "id":
			lastID = value
		case "data":
			var e client.AgentEvent
			if err := json.Unmarshal([]byte(value), &e); err != nil {
				log.Fatal(err)
			}
			fmt.Println(event, e.Agent, e.Node)
			if event == string(client.EventTypeAgentDisconnected) && e.Agent == "p1" {
				return // enough for the example; a service reads on
			}
		}
	}
	log.Printf("stream ended after event %q: %v", lastID, sc.Err())
	// Output:
	// agent.connected p1 example-node
	// agent.disconnected p1 example-node
}
