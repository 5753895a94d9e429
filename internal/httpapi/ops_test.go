package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/api"
	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/node"
)

func TestNodes(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	dialWS(t, n, "")
	dialTCP(t, n, 0)
	res, err := c.ListNodesWithResponse(t.Context())
	if err != nil || res.JSON200 == nil {
		t.Fatalf("GET /nodes: %v %s", err, res.Status())
	}
	if len(res.JSON200.Items) != 1 {
		t.Fatalf("nodes %s, want this one", res.Body)
	}
	node := res.JSON200.Items[0]
	if node.ID != "test-node" || node.Agents != 2 || node.Address != n.cfg.HTTPAddr {
		t.Errorf("node %s, want test-node at %s with 2 agents", res.Body, n.cfg.HTTPAddr)
	}
	if now := time.Now(); node.StartedAt.After(now) || node.LastHeartbeat.Before(node.StartedAt) || node.LastHeartbeat.After(now.Add(time.Second)) {
		t.Errorf("started_at %v, last_heartbeat %v", node.StartedAt, node.LastHeartbeat)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	if res, err := c.HealthzWithResponse(t.Context()); err != nil || res.JSON200 == nil || res.JSON200.Status != "ok" {
		t.Fatalf("healthz: %v %v", err, res.Status())
	}
	if res, err := c.ReadyzWithResponse(t.Context()); err != nil || res.JSON200 == nil || res.JSON200.Status != "ok" {
		t.Fatalf("readyz: %v %v", err, res.Status())
	}
	if err := n.shutdown(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.ReadyzWithResponse(t.Context()); err != nil || res.ApplicationProblemJSON503 == nil {
		t.Fatalf("readyz while stopping: %v %v, want 503", err, res.Status())
	}
	resp, body := n.do(t, http.MethodGet, "/readyz", "", nil)
	checkProblem(t, resp, body, http.StatusServiceUnavailable)
	if res, err := c.HealthzWithResponse(t.Context()); err != nil || res.JSON200 == nil {
		t.Fatalf("healthz while stopping: %v %v, want 200", err, res.Status())
	}
}

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	cli := dialWS(t, n, "")
	cli.roundTrip()
	openEvents(t, n, &client.StreamEventsParams{})

	resp, body := n.do(t, http.MethodGet, "/metrics", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, name := range []string{"hotpot_agents", "hotpot_sse_subscribers", "hotpot_frames_in_total"} {
		if !bytes.Contains(body, []byte("\n# TYPE "+name+" ")) {
			t.Errorf("no %s in /metrics", name)
		}
	}
	for series, want := range map[string]float64{
		`hotpot_agents{codec="json",transport="ws"}`: 1,
		`hotpot_sse_subscribers`:                     1,
		`hotpot_frames_in_total{transport="ws"}`:     1, // the Ping
	} {
		if got := n.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

func TestOpenAPISpec(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	resp, body := n.do(t, http.MethodGet, "/openapi.yaml", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, api.Spec()) {
		t.Error("GET /openapi.yaml is not api.Spec()")
	}
}

// TestOverloadedAnswers503RetryAfter: a refused broadcast says when to
// try again.
func TestOverloadedAnswers503RetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, node.ErrOverloaded, about{})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d with Retry-After %q, want 503 with one", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// TestPprofOnlyWhenAskedAndBehindTheKey: profiles are served with --pprof
// alone, and only with the API key. (They are not part of the API's spec.)
func TestPprofOnlyWhenAskedAndBehindTheKey(t *testing.T) {
	t.Parallel()
	get := func(n *testNode, key string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, n.url+"/debug/pprof/goroutine?debug=1", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := n.transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, _ := get(startNode(t, nil), ""); status != http.StatusNotFound {
		t.Fatalf("pprof without --pprof: %d, want 404", status)
	}
	on := startNode(t, func(cfg *config.Config) { cfg.Pprof = true; cfg.APIKey = "k" })
	if status, body := get(on, "k"); status != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("pprof with the key: %d %.80s", status, body)
	}
	if status, _ := get(on, ""); status != http.StatusUnauthorized {
		t.Fatalf("pprof without the key: %d, want 401", status)
	}
}

// TestMetricsMove: the metrics the design and README promise for a node
// alone are exposed with their types, and move when what they count
// happens.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kind, series string
		tweak              func(*config.Config)
		cause              func(t *testing.T, n *testNode)
		by                 float64
	}{{
		"hotpot_frames_rate_limited_total", "counter", `hotpot_frames_rate_limited_total{transport="ws"}`,
		func(cfg *config.Config) { cfg.RateLimit, cfg.RateBurst = 0.001, 1 },
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			cli.send(msg{Type: "Ping"})
			cli.send(msg{Type: "Ping"}) // finds the bucket of 1 empty
			if m := cli.recv(); m.Type != "Pong" {
				t.Fatalf("got %+v, want Pong", m)
			}
			if m := cli.recv(); m.Type != "Error" || m.Code != http.StatusTooManyRequests {
				t.Fatalf("got %+v, want Error 429", m)
			}
		}, 1,
	}, {
		"hotpot_kicks_total", "counter", `hotpot_kicks_total{reason="kicked"}`, nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			if res, err := n.client(t).KickAgentWithResponse(t.Context(), cli.id, nil); err != nil || res.StatusCode() != http.StatusNoContent {
				t.Fatalf("kick: %v %v", err, res.Status())
			}
			cli.expectClose()
		}, 1,
	}, {
		"hotpot_call_duration_seconds", "histogram", "hotpot_call_duration_seconds_count", nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			cli.answerCalls(echoReply)
			if res, err := n.client(t).CallAgentWithResponse(t.Context(), cli.id, client.CallRequest{Type: "Ask"}); err != nil || res.JSON200 == nil {
				t.Fatalf("call: %v %v", err, res.Status())
			}
		}, 1,
	}, {
		"hotpot_late_replies_total", "counter", "hotpot_late_replies_total", nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			replyLate(t, n.client(t), cli)
			cli.send(msg{Type: "Reply", ID: "no-such-call"})
			cli.roundTrip() // both replies have been handled
		}, 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, tc.tweak)
			before := n.metric(t, tc.series)
			tc.cause(t, n)
			if _, body := n.do(t, http.MethodGet, "/metrics", "", nil); !bytes.Contains(body, []byte("\n# TYPE "+tc.name+" "+tc.kind+"\n")) {
				t.Errorf("no %s %s in /metrics", tc.kind, tc.name)
			}
			if moved := n.metric(t, tc.series) - before; moved != tc.by {
				t.Errorf("%s moved by %v, want %v", tc.series, moved, tc.by)
			}
		})
	}
}
