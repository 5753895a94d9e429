package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

// listIDs lists the agents with params, page after page, and returns their
// ids and the size of each page.
func listIDs(t *testing.T, c *client.ClientWithResponses, params client.ListAgentsParams) (ids []string, pages []int) {
	t.Helper()
	for {
		res, err := c.ListAgentsWithResponse(t.Context(), &params)
		if err != nil {
			t.Fatal(err)
		}
		if res.JSON200 == nil {
			t.Fatalf("GET /agents: %s: %s", res.Status(), res.Body)
		}
		for _, a := range res.JSON200.Items {
			ids = append(ids, a.ID)
		}
		pages = append(pages, len(res.JSON200.Items))
		if res.JSON200.NextCursor == nil {
			return ids, pages
		}
		if len(pages) > 100 {
			t.Fatal("more than 100 pages")
		}
		params.Cursor = res.JSON200.NextCursor
	}
}

func TestListAgents(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	all := []string{"a1", "a2", "a3", "a4", "a5"}
	for _, id := range all {
		dialWS(t, n, "?id="+id)
	}
	for _, id := range []string{"a2", "a4"} {
		if res, err := c.JoinGroupWithResponse(t.Context(), id, "blue"); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("join: %v %v", err, res.Status())
		}
	}
	cases := []struct {
		name   string
		params client.ListAgentsParams
		ids    []string
		pages  []int
	}{
		{"default limit", client.ListAgentsParams{}, all, []int{5}},
		{"pages of 2", client.ListAgentsParams{Limit: ptr(2)}, all, []int{2, 2, 1}},
		{"limit that divides", client.ListAgentsParams{Limit: ptr(5)}, all, []int{5}},
		{"limit 1", client.ListAgentsParams{Limit: ptr(1)}, all, []int{1, 1, 1, 1, 1}},
		{"limit 1000", client.ListAgentsParams{Limit: ptr(1000)}, all, []int{5}},
		{"group", client.ListAgentsParams{Group: ptr("blue")}, []string{"a2", "a4"}, []int{2}},
		{"group, paged", client.ListAgentsParams{Group: ptr("blue"), Limit: ptr(1)}, []string{"a2", "a4"}, []int{1, 1}},
		{"empty group", client.ListAgentsParams{Group: ptr("green")}, nil, []int{0}},
		{"this node", client.ListAgentsParams{Node: ptr("test-node"), Limit: ptr(3)}, all, []int{3, 2}},
		{"another node", client.ListAgentsParams{Node: ptr("elsewhere")}, nil, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids, pages := listIDs(t, c, tc.params)
			if !slices.Equal(ids, tc.ids) || !slices.Equal(pages, tc.pages) {
				t.Errorf("ids %v in pages %v, want %v in %v", ids, pages, tc.ids, tc.pages)
			}
		})
	}
	for _, query := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "cursor=!!", "cursor=" + strings.Repeat("A", 300), "group=a/b", "group=" + strings.Repeat("g", 129)} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			resp, body := n.do(t, http.MethodGet, "/agents?"+query, "", nil)
			checkProblem(t, resp, body, http.StatusBadRequest)
		})
	}
}

func TestGetAgent(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	before := time.Now().Add(-time.Second)
	ws := dialWS(t, n, "?id=g1", "hotpot.msgpack")
	tcp := dialTCP(t, n, 0)
	after := time.Now().Add(time.Second)

	cases := []struct {
		id, transport, codec, remote string
	}{
		{"g1", "ws", "msgpack", ""},
		{tcp.id, "tcp", "json", tcp.conn.LocalAddr().String()},
	}
	for _, tc := range cases {
		res, err := c.GetAgentWithResponse(t.Context(), tc.id)
		if err != nil {
			t.Fatal(err)
		}
		a := res.JSON200
		if a == nil {
			t.Fatalf("GET /agents/%s: %s: %s", tc.id, res.Status(), res.Body)
		}
		if a.ID != tc.id || a.Node != "test-node" || string(a.Transport) != tc.transport || string(a.Codec) != tc.codec {
			t.Errorf("agent %s", res.Body)
		}
		if tc.remote != "" && a.RemoteAddr != tc.remote || !strings.HasPrefix(a.RemoteAddr, "127.0.0.1:") {
			t.Errorf("remote_addr %q, want the client's address %q", a.RemoteAddr, tc.remote)
		}
		if a.ConnectedAt.Before(before) || a.ConnectedAt.After(after) || a.LastSeen.Before(a.ConnectedAt) || a.LastSeen.After(after) {
			t.Errorf("connected_at %v, last_seen %v, want both between %v and %v", a.ConnectedAt, a.LastSeen, before, after)
		}
		if a.Groups == nil || len(a.Groups) != 0 {
			t.Errorf("groups %v, want [] (present, empty)", a.Groups)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(res.Body, &raw); err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"connected_at", "last_seen"} {
			var s string
			json.Unmarshal(raw[field], &s)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") {
				t.Errorf("%s %q is not an RFC 3339 UTC time: %v", field, s, err)
			}
		}
	}

	// last_seen moves when the client sends.
	res, _ := c.GetAgentWithResponse(t.Context(), "g1")
	seen := res.JSON200.LastSeen
	time.Sleep(5 * time.Millisecond)
	ws.roundTrip()
	if res, _ := c.GetAgentWithResponse(t.Context(), "g1"); !res.JSON200.LastSeen.After(seen) {
		t.Errorf("last_seen %v after a Ping, was %v", res.JSON200.LastSeen, seen)
	}

	res404, err := c.GetAgentWithResponse(t.Context(), "nobody")
	if err != nil || res404.ApplicationProblemJSON404 == nil {
		t.Errorf("GET /agents/nobody: %v %v, want 404", err, res404.Status())
	}
	resp, body := n.do(t, http.MethodGet, "/agents/no%20body", "", nil)
	checkProblem(t, resp, body, http.StatusBadRequest)
}

func TestGroupMembership(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cli := dialWS(t, n, "")
	groups := func() []string {
		t.Helper()
		res, err := c.GetAgentWithResponse(t.Context(), cli.id)
		if err != nil || res.JSON200 == nil {
			t.Fatalf("GET agent: %v", err)
		}
		return res.JSON200.Groups
	}
	steps := []struct {
		join   bool
		agent  string
		group  string
		status int
		groups []string
	}{
		{true, cli.id, "red", 204, []string{"red"}},
		{true, cli.id, "red", 204, []string{"red"}}, // idempotent
		{true, cli.id, "blue:2@x", 204, []string{"red", "blue:2@x"}},
		{false, cli.id, "red", 204, []string{"blue:2@x"}},
		{false, cli.id, "red", 204, []string{"blue:2@x"}}, // idempotent
		{true, "nobody", "red", 404, []string{"blue:2@x"}},
		{false, "nobody", "red", 404, []string{"blue:2@x"}},
	}
	for i, s := range steps {
		var status int
		if s.join {
			res, err := c.JoinGroupWithResponse(t.Context(), s.agent, s.group)
			if err != nil {
				t.Fatal(err)
			}
			status = res.StatusCode()
		} else {
			res, err := c.LeaveGroupWithResponse(t.Context(), s.agent, s.group)
			if err != nil {
				t.Fatal(err)
			}
			status = res.StatusCode()
		}
		if status != s.status {
			t.Errorf("step %d (join %v %s %s): %d, want %d", i, s.join, s.agent, s.group, status, s.status)
		}
		if got := groups(); !slices.Equal(got, s.groups) {
			t.Errorf("step %d: groups %v, want %v", i, got, s.groups)
		}
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		resp, body := n.do(t, method, "/agents/"+cli.id+"/groups/"+strings.Repeat("g", 129), "", nil)
		checkProblem(t, resp, body, http.StatusBadRequest)
		resp, body = n.do(t, method, "/agents/"+cli.id+"/groups/a%2Fb", "", nil)
		checkProblem(t, resp, body, http.StatusBadRequest)
	}
}

// TestAgentIDAlphabet: an agent id is 1–128 of [A-Za-z0-9_.:@-]. Ids
// with each of the punctuation marks, and one of 128 bytes, are taken as
// they are: Welcome carries the id and GET /agents/{id} finds it.
func TestAgentIDAlphabet(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	for _, id := range []string{"under_score", "dot.ted", "co:lon", "player@example.com", "dash-ed", strings.Repeat("aZ9_.:@-", 16)} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			if cli := dialWS(t, n, "?id="+id); cli.id != id {
				t.Fatalf("Welcome carries id %q, want %q", cli.id, id)
			}
			res, err := c.GetAgentWithResponse(t.Context(), id)
			if err != nil || res.JSON200 == nil || res.JSON200.ID != id {
				t.Fatalf("GET /agents/%s: %v %v %s, want 200 with that id", id, err, res.Status(), res.Body)
			}
		})
	}
}

// TestListAgentsDefaultLimit: without limit, GET /agents answers pages of
// 100 agents.
func TestListAgentsDefaultLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	for range 101 {
		dialTCP(t, n, 0)
	}
	if _, pages := listIDs(t, n.client(t), client.ListAgentsParams{}); !slices.Equal(pages, []int{100, 1}) {
		t.Fatalf("101 agents in pages of %v, want 100 then 1", pages)
	}
}
