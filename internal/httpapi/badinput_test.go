package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
)

// checkProblem fails t unless resp is an RFC 9457 problem of status.
func checkProblem(t testing.TB, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %s (%s), want %d", resp.Status, body, status)
		return
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Title == "" {
		t.Errorf("problem %s, want title and status %d", body, status)
	}
}

// TestCallBadRequests: a call the node cannot make is refused before the
// client sees anything.
func TestCallBadRequests(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	cli := dialWS(t, n, "?id=u1")
	cli.answerCalls(echoReply)
	mp := dialWS(t, n, "?id=m1", "hotpot.msgpack")
	mp.answerCalls(echoReply)
	const js = "application/json"
	long := strings.Repeat("t", 129)
	cases := []struct {
		name, path, contentType, body string
		status                        int
	}{
		{"malformed JSON", "/agents/u1/call", js, `{"type":`, 400},
		{"not an object", "/agents/u1/call", js, `["X"]`, 400},
		{"trailing data", "/agents/u1/call", js, `{"type":"X"} {"type":"Y"}`, 400},
		{"text/plain", "/agents/u1/call", "text/plain", `{"type":"X"}`, 415},
		{"no content type", "/agents/u1/call", "", `{"type":"X"}`, 415},
		{"unknown field", "/agents/u1/call", js, `{"type":"X","bogus":1}`, 400},
		{"missing type", "/agents/u1/call", js, `{"data":1}`, 400},
		{"empty type", "/agents/u1/call", js, `{"type":""}`, 400},
		{"type of 129 bytes", "/agents/u1/call", js, `{"type":"` + long + `"}`, 400},
		{"type of 128 bytes", "/agents/u1/call", js, `{"type":"` + long[1:] + `"}`, 200},
		{"timeout_ms 0", "/agents/u1/call", js, `{"type":"X","timeout_ms":0}`, 400},
		{"timeout_ms 60001", "/agents/u1/call", js, `{"type":"X","timeout_ms":60001}`, 400},
		{"timeout_ms -1", "/agents/u1/call", js, `{"type":"X","timeout_ms":-1}`, 400},
		{"timeout_ms 1.5", "/agents/u1/call", js, `{"type":"X","timeout_ms":1.5}`, 400},
		{"timeout_ms 60000", "/agents/u1/call", js, `{"type":"X","timeout_ms":60000}`, 200},
		{"data and data_base64", "/agents/u1/call", js, `{"type":"X","data":1,"data_base64":"MQ=="}`, 400},
		{"data_base64 not base64", "/agents/u1/call", js, `{"type":"X","data_base64":"!!!"}`, 400},
		{"data_base64 not JSON for a JSON client", "/agents/u1/call", js,
			`{"type":"X","data_base64":"` + base64.StdEncoding.EncodeToString([]byte{0xff, 0, '{'}) + `"}`, 400},
		{"id with a space", "/agents/bad%20id/call", js, `{"type":"X"}`, 400},
		{"id with a bang", "/agents/a!b/call", js, `{"type":"X"}`, 400},
		{"id of 129 bytes", "/agents/" + long + "/call", js, `{"type":"X"}`, 400},
		{"2 MiB body", "/agents/u1/call", js, `{"type":"X","data":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"number a msgpack client cannot carry", "/agents/m1/call", js, `{"type":"X","data":[1e400]}`, 400},
		{"number a msgpack client can carry", "/agents/m1/call", js, `{"type":"X","data":[1e300]}`, 200},
		{"unknown agent", "/agents/ghost/call", js, `{"type":"X"}`, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := n.do(t, http.MethodPost, tc.path, tc.contentType, strings.NewReader(tc.body))
			if tc.status == http.StatusOK {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %s (%s), want 200", resp.Status, body)
				}
				return
			}
			checkProblem(t, resp, body, tc.status)
		})
	}
}

// garbage are request bodies no well-behaved web service sends.
var garbage = func() map[string][]byte {
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(i*7 + i>>8)
	}
	big := strings.Repeat("a", 300<<10) // beyond any frame, within the body limit
	deep := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	return map[string][]byte{
		"empty":                   nil,
		"binary":                  bin,
		"binary as JSON":          bin,
		"null":                    []byte(`null`),
		"array":                   []byte(`[{"type":"X"}]`),
		"string":                  []byte(`"type"`),
		"number":                  []byte(`42`),
		"type null":               []byte(`{"type":null}`),
		"type number":             []byte(`{"type":123}`),
		"type array":              []byte(`{"type":["X"]}`),
		"type object":             []byte(`{"type":{"X":1}}`),
		"type invalid UTF-8":      []byte("{\"type\":\"\xff\xfe\"}"),
		"type lone surrogate":     []byte(`{"type":"\ud800"}`),
		"unterminated nesting":    []byte(strings.Repeat("[", 100000)),
		"nesting past the limit":  []byte(`{"type":"X","data":` + deep(20000) + `}`),
		"nesting under the limit": []byte(`{"type":"X","data":` + deep(9990) + `}`),
		"huge type":               []byte(`{"type":"` + big + `"}`),
		"huge data":               []byte(`{"type":"X","data":"` + big + `"}`),
		"huge base64":             []byte(`{"type":"X","data_base64":"` + big + `"}`),
		"2 MiB of spaces":         bytes.Repeat([]byte(" "), 2<<20),
		"number out of range":     []byte(`{"type":"X","data":1e400}`),
		"big integer":             []byte(`{"type":"X","data":123456789012345678901234567890}`),
		"negative zero":           []byte(`{"type":"X","data":-0.0}`),
		"lone surrogate data":     []byte(`{"type":"X","data":{"\ud800":"\udfff"}}`),
		"timeout huge":            []byte(`{"type":"X","timeout_ms":1e309}`),
		"timeout string":          []byte(`{"type":"X","timeout_ms":"5"}`),
		"timeout overflow":        []byte(`{"type":"X","timeout_ms":99999999999999999999}`),
		"base64 number":           []byte(`{"type":"X","data_base64":123}`),
		"base64 padding only":     []byte(`{"type":"X","data_base64":"===="}`),
		"null data and base64":    []byte(`{"type":"X","data":null,"data_base64":null}`),
		"duplicate keys":          []byte(`{"type":"X","type":"Y","data":1,"data":{}}`),
		"nul bytes":               []byte("{\"type\":\"X\",\u0000\"data\":1}"),
	}
}()

// TestGarbageNeverAServerError throws garbage at every endpoint that
// takes a body, on agents of every codec: the node answers below 500,
// with a problem document when it refuses, and keeps working.
func TestGarbageNeverAServerError(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	for _, q := range []struct{ query, proto string }{{"?id=j1", ""}, {"?id=m1", "hotpot.msgpack"}, {"?id=p1", "hotpot.proto"}} {
		var cli *wsClient
		if q.proto == "" {
			cli = dialWS(t, n, q.query)
		} else {
			cli = dialWS(t, n, q.query, q.proto)
		}
		// Not an echo: a JSON client may be given numbers (1e400) that
		// the validating HTTP client could not read back.
		cli.answerCalls(func(call msg) msg { return msg{Type: "Reply", ID: call.ID, Data: []byte(`{"ok":true}`)} })
		if res, err := n.client(t).JoinGroupWithResponse(t.Context(), cli.id, "g1"); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("join: %v %v", err, res.Status())
		}
	}
	dialTCP(t, n, 0) // a TCP agent receives the broadcasts too

	endpoints := []struct{ method, path string }{
		{http.MethodPost, "/agents/j1/call"},
		{http.MethodPost, "/agents/m1/call"},
		{http.MethodPost, "/agents/p1/call"},
		{http.MethodPost, "/agents/ghost/call"},
		{http.MethodPost, "/agents/j1/events"},
		{http.MethodPost, "/agents/m1/events"},
		{http.MethodPost, "/agents/p1/events"},
		{http.MethodPut, "/agents/j1/groups/g2"},
		{http.MethodPost, "/groups/g1/events"},
		{http.MethodPost, "/broadcast"},
		{http.MethodPost, "/broadcast?async=true"},
	}
	t.Run("endpoints", func(t *testing.T) {
		for _, ep := range endpoints {
			t.Run(ep.method+" "+ep.path, func(t *testing.T) {
				t.Parallel()
				throwGarbage(t, n, ep.method, ep.path)
			})
		}
	})
	// After all that, the node still serves.
	res, err := n.client(t).CallAgentWithResponse(t.Context(), "m1", client.CallRequest{Type: "Still", Data: json.RawMessage(`{"ok":true}`)})
	if err != nil || res.JSON200 == nil || !jsonEqual(t, res.JSON200.Data, []byte(`{"ok":true}`)) {
		t.Errorf("a call after the garbage: %v %v", err, res.Status())
	}
}

// throwGarbage sends every garbage body to method path, as JSON (but
// "binary" as application/octet-stream).
func throwGarbage(t *testing.T, n *testNode, method, path string) {
	for name, body := range garbage {
		ct := "application/json"
		if name == "binary" {
			ct = "application/octet-stream"
		}
		resp, got := n.do(t, method, path, ct, bytes.NewReader(body))
		if resp.StatusCode >= 500 {
			t.Errorf("%s: %s: %.300s", name, resp.Status, got)
			continue
		}
		if resp.StatusCode >= 400 {
			if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
				t.Errorf("%s: %s with Content-Type %q, want a problem", name, resp.Status, resp.Header.Get("Content-Type"))
			}
		}
	}
}

// slowBody sends headers announcing a 1,000-byte JSON body to n, then one
// byte of it, and returns what the node answers (its status line) and how
// long the answer and the connection's close took. It fails t if they
// take more than 10 s.
func slowBody(t *testing.T, n *testNode, header string) (statusLine string, took time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /broadcast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n%s\r\n{", header)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(conn) // until the node closes
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, all)
	}
	line, _, _ := strings.Cut(string(all), "\r\n")
	return line, time.Since(start)
}

// TestSlowBodiesDoNotHoldConnections: a body that does not arrive is
// answered 408 once the body timeout passes, and a request without the
// API key is answered 401 at once, without waiting for its body (here
// the body timeout is far beyond slowBody's 10 s); both connections are
// closed.
func TestSlowBodiesDoNotHoldConnections(t *testing.T) {
	t.Parallel()
	const bodyTimeout = 300 * time.Millisecond
	n := startNode(t, func(cfg *config.Config) { cfg.APIKey = "k" }, withBodyTimeout(bodyTimeout))
	if line, took := slowBody(t, n, "Authorization: Bearer k\r\n"); !strings.Contains(line, " 408 ") || took < bodyTimeout {
		t.Fatalf("a body that never arrives: %q after %v, want 408 after %v", line, took, bodyTimeout)
	}
	n = startNode(t, func(cfg *config.Config) { cfg.APIKey = "k" }, withBodyTimeout(time.Minute))
	if line, _ := slowBody(t, n, ""); !strings.Contains(line, " 401 ") {
		t.Fatalf("no API key and a body that never arrives: %q, want 401 at once", line)
	}
}

// TestHTTPConnectionsAreBounded: beyond --max-http-conns a new connection
// is closed at once, before anything is read; the others are served.
func TestHTTPConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.MaxHTTPConns = 2 })
	addr := strings.TrimPrefix(n.url, "http://")
	var idle []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		idle = append(idle, conn)
	}
	eventually(t, "the node counts both", func() bool { return n.api.httpConns.Load() == 2 })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection over the limit read %v, want EOF (closed at once)", err)
	}
	idle[0].Close()
	eventually(t, "a closed connection is given back", func() bool { return n.api.httpConns.Load() == 1 })
	if resp, _ := n.do(t, http.MethodGet, "/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz once there is room: %s", resp.Status)
	}
}

// TestProblemsSpeakTheCallersTerms: every error is problem+json, and says
// what is wrong in terms of the request, not of the parser.
func TestProblemsSpeakTheCallersTerms(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
		detail             string
	}{
		{http.MethodPost, "/broadcast", `[1,2,3]`, http.StatusBadRequest, "the body must be a JSON object, not array"},
		{http.MethodPost, "/broadcast", `{"type":1}`, http.StatusBadRequest, `member "type" must be a string, not number`},
		{http.MethodPost, "/agents/a/call", `{"type":"X","timeout_ms":"soon"}`, http.StatusBadRequest, `member "timeout_ms" must be a number, not string`},
		{http.MethodPost, "/broadcast", `{"type":"X","colour":"red"}`, http.StatusBadRequest, `unknown member "colour"`},
		{http.MethodPost, "/broadcast", `{"type":"X","data_base64":"!!"}`, http.StatusBadRequest, "data_base64 is not valid base64"},
		{http.MethodPost, "/broadcast", `{"type":`, http.StatusBadRequest, "ends in the middle"},
		{http.MethodGet, "/agents?limit=many", "", http.StatusBadRequest, "parameter limit has the wrong form"},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		resp, got := n.do(t, tc.method, tc.path, "application/json", body)
		checkProblem(t, resp, got, tc.status)
		var p struct{ Detail string }
		json.Unmarshal(got, &p)
		if !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s %s %s: detail %q, want it to say %q", tc.method, tc.path, tc.body, p.Detail, tc.detail)
		}
	}
}

// TestUnknownPathsAndMethodsAreProblems: 404 and 405 are problem+json
// too. (They are not operations of the spec, so the raw transport is used.)
func TestUnknownPathsAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/no/such/path", http.StatusNotFound},
		{http.MethodPatch, "/broadcast", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, n.url+tc.path, nil)
		resp, err := n.transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkProblem(t, resp, body, tc.status)
	}
}

// TestAgentLimits: beyond --max-pending-calls calls waiting for one
// agent's replies, and beyond --max-groups groups, the REST API answers
// 429, and nothing is sent or joined.
func TestAgentLimits(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.MaxPendingCalls = 2; cfg.MaxGroups = 2 })
	c := n.client(t)
	cli := dialWS(t, n, "?id=busy")
	for range 2 {
		callAsync(t, c, cli.id, client.CallRequest{Type: "Slow", TimeoutMs: ptr(5000)})
		cli.recv() // the call reached the client, which does not answer yet
	}
	res, err := c.CallAgentWithResponse(t.Context(), cli.id, client.CallRequest{Type: "OneTooMany", TimeoutMs: ptr(5000)})
	if err != nil || res.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("a third call with two waiting: %v %v, want 429", err, res.Status())
	}
	for _, g := range []string{"a", "b", "a"} {
		if res, err := c.JoinGroupWithResponse(t.Context(), cli.id, g); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("join %s: %v %v", g, err, res.Status())
		}
	}
	if res, err := c.JoinGroupWithResponse(t.Context(), cli.id, "c"); err != nil || res.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("a third group: %v %v, want 429", err, res.Status())
	}
}
