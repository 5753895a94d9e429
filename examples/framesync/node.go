package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

// requestTimeout bounds one REST request. The lockstep loop waits for its
// requests, so a node that hangs delays frames by at most this much.
const requestTimeout = 2 * time.Second

// node is the hotpot node the backend drives, through its public REST API
// and event stream. Its methods may be called concurrently.
type node struct {
	api    *client.ClientWithResponses
	stream *client.Client // no client timeout: the event stream lasts
}

// newNode returns the node at url, sending apiKey when it is not empty.
func newNode(url, apiKey string) (*node, error) {
	bearer := client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		if apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+apiKey)
		}
		return nil
	})
	api, err := client.NewClientWithResponses(url, bearer,
		client.WithHTTPClient(&http.Client{Timeout: requestTimeout}))
	if err != nil {
		return nil, err
	}
	stream, err := client.NewClient(url, bearer)
	if err != nil {
		return nil, err
	}
	return &node{api: api, stream: stream}, nil
}

// errGone reports an agent the node does not know (any more).
var errGone = errors.New("agent not connected")

// joinGroup adds agent to group; errGone if the agent has left.
func (n *node) joinGroup(ctx context.Context, agent, group string) error {
	res, err := n.api.JoinGroupWithResponse(ctx, agent, group)
	return answer(res, err, http.StatusNoContent)
}

// leaveGroup removes agent from group; errGone if the agent has left.
func (n *node) leaveGroup(ctx context.Context, agent, group string) error {
	res, err := n.api.LeaveGroupWithResponse(ctx, agent, group)
	return answer(res, err, http.StatusNoContent)
}

// pushAgent sends one event to agent; errGone if the agent has left.
func (n *node) pushAgent(ctx context.Context, agent, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	res, err := n.api.PushAgentEventWithResponse(ctx, agent, client.EventRequest{Type: typ, Data: b})
	if err == nil && res.StatusCode() == http.StatusGone {
		return errGone // its send queue is full: it is on its way out
	}
	return answer(res, err, http.StatusAccepted)
}

// pushGroup sends one event, already encoded, to every member of group.
func (n *node) pushGroup(ctx context.Context, group, typ string, data json.RawMessage) error {
	res, err := n.api.PushGroupEventWithResponse(ctx, group, client.EventRequest{Type: typ, Data: data})
	return answer(res, err, http.StatusOK)
}

// connected reports whether agent has a session on the node.
func (n *node) connected(ctx context.Context, agent string) (bool, error) {
	res, err := n.api.GetAgentWithResponse(ctx, agent)
	switch err := answer(res, err, http.StatusOK); err {
	case nil:
		return true, nil
	case errGone:
		return false, nil
	default:
		return false, err
	}
}

// answer turns a REST answer into an error: nil for the status wanted,
// errGone for a 404, else the status and the problem's text.
func answer(res interface {
	StatusCode() int
	Status() string
}, err error, want int) error {
	switch {
	case err != nil:
		return err
	case res.StatusCode() == want:
		return nil
	case res.StatusCode() == http.StatusNotFound:
		return errGone
	}
	return fmt.Errorf("%s", res.Status())
}
