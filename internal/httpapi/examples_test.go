package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/hotpot-rt/hotpot/api"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// TestResponseExamples: every example of a response in api/openapi.yaml
// is what a node answers in the situation it shows. Each example has a
// case below that brings that situation about on a real node, with real
// clients, and the node's answer is compared with the example read from
// the spec: a problem document member for member, a JSON body member for
// member (only the type of values that differ from run to run: times,
// addresses), metrics and event streams by their shape. An example
// without a case, or a case without an example, fails the test.
func TestResponseExamples(t *testing.T) {
	t.Parallel()
	examples := specExamples(t)
	for _, ex := range examples {
		if exampleCases[ex.key] == nil {
			t.Errorf("api/openapi.yaml has an example %s that no case of TestResponseExamples provokes: add one", ex.key)
		}
	}
	for key := range exampleCases {
		if !slices.ContainsFunc(examples, func(ex specExample) bool { return ex.key == key }) {
			t.Errorf("TestResponseExamples has a case %s, but api/openapi.yaml has no such example", key)
		}
	}
	for _, ex := range examples {
		provoke := exampleCases[ex.key]
		if provoke == nil {
			continue
		}
		t.Run(ex.key, func(t *testing.T) {
			t.Parallel()
			ans := provoke(t)
			for _, d := range ex.diff(ans) {
				t.Error(d)
			}
		})
	}
}

// specExample is one example of a response in api/openapi.yaml.
type specExample struct {
	// key names the example: the shared response's name
	// ("NotFound"), or the operation and status ("callAgent 200"), then
	// "/" and the example's name when it is one of several ("Gone/call").
	key string
	// statuses are the statuses the response is documented for.
	statuses  []int
	mediaType string
	// value is the example, as JSON decodes it (a string for text).
	value any
	// headers are the examples of the response's headers, by name.
	headers map[string]any
}

// specExamples lists every example of a response in api/openapi.yaml:
// those of components/responses, and those of the operations' own
// responses.
func specExamples(t *testing.T) []specExample {
	t.Helper()
	doc, err := specDoc()
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string][]int{} // components/responses by name: the statuses they answer
	var out []specExample
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for code, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					t.Fatalf("%s: response %q: not a status", op.OperationID, code)
				}
				if name, ok := strings.CutPrefix(ref.Ref, "#/components/responses/"); ok {
					if !slices.Contains(shared[name], status) {
						shared[name] = append(shared[name], status)
					}
					continue
				}
				out = append(out, examplesOf(t, fmt.Sprintf("%s %d", op.OperationID, status), []int{status}, ref.Value)...)
			}
		}
	}
	for name, ref := range doc.Components.Responses {
		out = append(out, examplesOf(t, name, shared[name], ref.Value)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// examplesOf lists the examples of one response.
func examplesOf(t *testing.T, key string, statuses []int, resp *openapi3.Response) []specExample {
	t.Helper()
	headers := map[string]any{}
	for name, h := range resp.Headers {
		if len(h.Value.Examples) > 0 {
			t.Fatalf("%s: header %s: named examples of a header are not compared yet", key, name)
		}
		if h.Value.Example != nil {
			headers[name] = h.Value.Example
		}
	}
	var out []specExample
	for mt, content := range resp.Content {
		k := key
		if len(resp.Content) > 1 {
			k += " " + mt
		}
		add := func(key string, value any) {
			v, err := normalJSON(value)
			if err != nil {
				t.Fatalf("example %s: %v", key, err)
			}
			out = append(out, specExample{key: key, statuses: statuses, mediaType: mt, value: v, headers: headers})
		}
		if content.Example != nil {
			add(k, content.Example)
		}
		for name, named := range content.Examples {
			add(k+"/"+name, named.Value.Value)
		}
	}
	return out
}

// normalJSON returns v as encoding/json decodes it into an any.
func normalJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// exampleAnswer is what a node answered in the situation of an example.
type exampleAnswer struct {
	status int
	header http.Header
	body   []byte
	// varying are the members whose values differ from run to run
	// ("items.0.connected_at"): only their type, and their form for a
	// time or an address, is compared.
	varying []string
	// excerpt is set when the example shows only some of the members.
	excerpt bool
}

// diff says where ans differs from the example.
func (ex specExample) diff(ans exampleAnswer) []string {
	var diffs []string
	if !slices.Contains(ex.statuses, ans.status) {
		diffs = append(diffs, fmt.Sprintf("status %d, want one of %v (body %s)", ans.status, ex.statuses, ans.body))
		return diffs
	}
	if mt, _, _ := mime.ParseMediaType(ans.header.Get("Content-Type")); mt != ex.mediaType {
		diffs = append(diffs, fmt.Sprintf("Content-Type %q, want %s", ans.header.Get("Content-Type"), ex.mediaType))
	}
	for name, want := range ex.headers {
		if got := ans.header.Get(name); got != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("header %s: %q, the example says %q", name, got, fmt.Sprint(want)))
		}
	}
	varying := map[string]bool{}
	for _, p := range ans.varying {
		varying[p] = true
	}
	switch ex.mediaType {
	case "application/json", "application/problem+json":
		var got any
		if err := json.Unmarshal(ans.body, &got); err != nil {
			return append(diffs, fmt.Sprintf("body %q: %v", ans.body, err))
		}
		if problem, ok := ex.value.(map[string]any); ok && ex.mediaType == "application/problem+json" {
			if st, _ := problem["status"].(float64); int(st) != ans.status {
				diffs = append(diffs, fmt.Sprintf("the example's status member is %v, but it is documented for %d", st, ans.status))
			}
		}
		diffs = diffJSON(diffs, "", ex.value, got, varying, ans.excerpt)
	case "application/yaml":
		var y any
		if err := yaml.Unmarshal(ans.body, &y); err != nil {
			return append(diffs, fmt.Sprintf("body: %v", err))
		}
		got, err := normalJSON(y)
		if err != nil {
			return append(diffs, fmt.Sprintf("body: %v", err))
		}
		diffs = diffJSON(diffs, "", ex.value, got, varying, ans.excerpt)
	case "text/plain":
		diffs = append(diffs, diffMetrics(ex.value.(string), string(ans.body))...)
	case "text/event-stream":
		diffs = append(diffs, diffEvents(ex.value.(string), string(ans.body))...)
	default:
		diffs = append(diffs, "no comparison for "+ex.mediaType)
	}
	return diffs
}

// diffJSON appends where got differs from want at path: members and
// array lengths must be the same (in an excerpt, want's members must be
// among got's), and scalars equal; at a varying path only the type is
// compared, and the form of a time or a host:port.
func diffJSON(diffs []string, path string, want, got any, varying map[string]bool, excerpt bool) []string {
	at := path
	if at == "" {
		at = "the body"
	}
	if reflect.TypeOf(want) != reflect.TypeOf(got) {
		return append(diffs, fmt.Sprintf("%s: %s, the example has %s", at, compact(got), compact(want)))
	}
	child := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k := range g {
			if _, ok := w[k]; !ok && !excerpt {
				diffs = append(diffs, fmt.Sprintf("%s: member %s, which the example lacks", at, k))
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: no member %s, which the example has", at, k))
				continue
			}
			diffs = diffJSON(diffs, child(k), wv, gv, varying, excerpt)
		}
	case []any:
		g := got.([]any)
		if len(g) != len(w) {
			return append(diffs, fmt.Sprintf("%s: %d items, the example has %d: %s", at, len(g), len(w), compact(got)))
		}
		for i := range w {
			diffs = diffJSON(diffs, child(strconv.Itoa(i)), w[i], g[i], varying, excerpt)
		}
	case string:
		if varying[path] {
			if _, err := time.Parse(time.RFC3339, w); err == nil {
				if _, err := time.Parse(time.RFC3339, got.(string)); err != nil {
					diffs = append(diffs, fmt.Sprintf("%s: %q is not a time, as the example's %q is", at, got, w))
				}
			} else if _, _, err := net.SplitHostPort(w); err == nil {
				if _, _, err := net.SplitHostPort(got.(string)); err != nil {
					diffs = append(diffs, fmt.Sprintf("%s: %q is not a host:port, as the example's %q is", at, got, w))
				}
			}
		} else if w != got {
			diffs = append(diffs, fmt.Sprintf("%s: %q, the example has %q", at, got, w))
		}
	default:
		if !varying[path] && want != got {
			diffs = append(diffs, fmt.Sprintf("%s: %s, the example has %s", at, compact(got), compact(want)))
		}
	}
	return diffs
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// metricText is what diffMetrics compares of a Prometheus text
// exposition: each family's help and type, and the samples' names and
// labels (not their values, which are counts).
type metricText struct {
	help, typ map[string]string
	samples   map[string]bool // name{labels}, labels sorted
}

func parseMetrics(text string) (metricText, []string) {
	m := metricText{help: map[string]string{}, typ: map[string]string{}, samples: map[string]bool{}}
	var bad []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			m.help[name] = help
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			m.typ[name] = typ
		case strings.HasPrefix(line, "#"):
		default:
			series, value, ok := cutLast(line, " ")
			if _, err := strconv.ParseFloat(value, 64); !ok || err != nil {
				bad = append(bad, fmt.Sprintf("%q is not a sample", line))
				continue
			}
			name, labels, _ := strings.Cut(series, "{")
			parts := strings.Split(strings.TrimSuffix(labels, "}"), ",")
			sort.Strings(parts)
			if labels == "" {
				parts = nil
			}
			m.samples[name+"{"+strings.Join(parts, ",")+"}"] = true
		}
	}
	return m, bad
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// diffMetrics says where the node's metrics lack a family or a sample of
// the example, or describe it otherwise.
func diffMetrics(example, got string) []string {
	want, bad := parseMetrics(example)
	have, badGot := parseMetrics(got)
	diffs := append(bad, badGot...)
	for name, typ := range want.typ {
		if have.typ[name] != typ {
			diffs = append(diffs, fmt.Sprintf("metric %s: type %q, the example has %q", name, have.typ[name], typ))
		}
	}
	for name, help := range want.help {
		if have.help[name] != help {
			diffs = append(diffs, fmt.Sprintf("metric %s: help %q, the example has %q", name, have.help[name], help))
		}
	}
	for s := range want.samples {
		if !have.samples[s] {
			diffs = append(diffs, fmt.Sprintf("no sample %s, which the example has", s))
		}
	}
	if len(want.samples) == 0 {
		diffs = append(diffs, "the example has no samples")
	}
	return diffs
}

// parseSSE reads the events and comments of an event stream; unended is
// set when text ends in the middle of an event (without the blank line
// that dispatches it, so that a reader never sees it).
func parseSSE(text string) (items []sseEvent, unended bool) {
	var p sseParser
	for line := range strings.Lines(text) {
		if out := p.line(line); out != nil {
			items = append(items, *out)
		}
	}
	return items, p.pending()
}

// diffEvents says which events and comments of the example the stream
// got lacks, in order: an event of the same type whose id has the same
// form and whose data has the same members, equal but for ts; a comment
// of the same text. Other comments and events may come in between.
func diffEvents(example, got string) []string {
	want, unended := parseSSE(example)
	have, _ := parseSSE(got)
	var diffs []string
	if unended {
		diffs = append(diffs, "the example's last event has no blank line after it: a reader would never see it")
	}
	if len(want) == 0 {
		return append(diffs, "the example has no events")
	}
	for i, w := range want {
		found := false
		for len(have) > 0 && !found {
			h := have[0]
			have = have[1:]
			switch {
			case w.Comment != "" || h.Comment != "":
				found = w.Comment == h.Comment
			case w.Event == h.Event:
				var wd, hd any
				json.Unmarshal(w.Data, &wd)
				json.Unmarshal(h.Data, &hd)
				_, _, wok := parseEventID(w.ID)
				_, _, hok := parseEventID(h.ID)
				found = wok == hok && len(diffJSON(nil, "", wd, hd, map[string]bool{"ts": true}, false)) == 0
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("the stream has nothing like the example's item %d in its place:\n%s\nThe stream:\n%s", i, sseText(w), got))
			break
		}
	}
	return diffs
}

// sseText writes ev as an event stream carries it.
func sseText(ev sseEvent) string {
	if ev.Comment != "" {
		return ": " + ev.Comment + "\n\n"
	}
	return fmt.Sprintf("event: %s\nid: %s\ndata: %s\n\n", ev.Event, ev.ID, ev.Data)
}

// exampleCase brings about, on a real node, the situation an example
// shows, and returns the node's answer.
type exampleCase func(t *testing.T) exampleAnswer

// exampleCases are the cases of TestResponseExamples, by example key. The
// examples speak of agent "u42", group "lobby" and node "node-a".
var exampleCases = map[string]exampleCase{
	"BadRequest": func(t *testing.T) exampleAnswer {
		// An explicit timeout_ms of 0.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42")
		return ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"GetScore","timeout_ms":0}`)
	},
	"Unauthorized": func(t *testing.T) exampleAnswer {
		// No API key, to a node that has one.
		n := exampleNode(t, func(cfg *config.Config) { cfg.APIKey = "the-key" })
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, n.url+"/agents", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := n.httpClient(t).Do(req) // without the key
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return exampleAnswer{status: resp.StatusCode, header: resp.Header, body: body}
	},
	"NotFound": func(t *testing.T) exampleAnswer {
		// No agent u42 anywhere.
		n := exampleNode(t, nil)
		return ask(t, n, http.MethodGet, "/agents/u42", "")
	},
	"Gone/call": func(t *testing.T) exampleAnswer {
		// The client leaves while a call waits for its reply.
		n := exampleNode(t, nil)
		cli := dialWS(t, n, "?id=u42")
		answer := goPost(t, n, "/agents/u42/call", `{"type":"GetScore","timeout_ms":60000}`)
		if m := cli.recv(); m.Type != "GetScore" {
			t.Fatalf("the client got %+v, want the call", m)
		}
		cli.conn.Close(websocket.StatusNormalClosure, "bye")
		return <-answer
	},
	"Gone/slow-consumer": func(t *testing.T) exampleAnswer {
		// Pushes to a client that does not read, until its send queue is full.
		n := exampleNode(t, func(cfg *config.Config) { cfg.JWTSecret = exampleSecret; cfg.SendQueue = 4 })
		dialTCPAs(t, n, 4096, clientToken(t, "u42")) // and never read again
		body := `{"type":"Notice","data":"` + strings.Repeat("x", 60000) + `"}`
		for range 2000 {
			ans := ask(t, n, http.MethodPost, "/agents/u42/events", body)
			if ans.status != http.StatusAccepted {
				return ans
			}
		}
		t.Fatal("2000 pushes of 60 kB to a client that never reads were all accepted")
		return exampleAnswer{}
	},
	"PayloadTooLarge/body": func(t *testing.T) exampleAnswer {
		// A body of more than 1 MiB.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42")
		return ask(t, n, http.MethodPost, "/agents/u42/events", `{"type":"Notice","data":"`+strings.Repeat("x", maxBodyBytes)+`"}`)
	},
	"PayloadTooLarge/message": func(t *testing.T) exampleAnswer {
		// A body well under 1 MiB, whose message, encoded, is over
		// --max-message-bytes.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42")
		return ask(t, n, http.MethodPost, "/agents/u42/events", `{"type":"Notice","data":"`+strings.Repeat("x", n.cfg.MaxMessageBytes)+`"}`)
	},
	"TooManyRequests/calls": func(t *testing.T) exampleAnswer {
		// As many calls as --max-pending-calls allows (256 by default) wait
		// for a client that does not answer; one more.
		n := exampleNode(t, nil) // --max-pending-calls as by default
		cli := dialWS(t, n, "?id=u42")
		var waiting []<-chan exampleAnswer
		for range n.cfg.MaxPendingCalls {
			waiting = append(waiting, goPost(t, n, "/agents/u42/call", `{"type":"GetScore","timeout_ms":60000}`))
		}
		for range waiting {
			if m := cli.recv(); m.Type != "GetScore" {
				t.Fatalf("the client got %+v, want a call", m)
			}
		}
		ans := ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"GetScore","timeout_ms":60000}`)
		cli.conn.CloseNow() // the calls waiting end with 410
		for _, ch := range waiting {
			if a := <-ch; a.status != http.StatusGone {
				t.Errorf("a call waiting when the client left: %d %s, want 410", a.status, a.body)
			}
		}
		return ans
	},
	"TooManyRequests/groups": func(t *testing.T) exampleAnswer {
		// The agent is in as many groups as --max-groups allows (256 by
		// default); one more.
		n := exampleNode(t, nil) // --max-groups as by default
		dialWS(t, n, "?id=u42")
		for i := range n.cfg.MaxGroups {
			join(t, n, "u42", fmt.Sprintf("g%d", i))
		}
		return ask(t, n, http.MethodPut, "/agents/u42/groups/lobby", "")
	},
	"UnsupportedMediaType": func(t *testing.T) exampleAnswer {
		// A text/plain body.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42")
		resp, body := n.do(t, http.MethodPost, "/agents/u42/events", "text/plain", strings.NewReader(`{"type":"Notice"}`))
		return exampleAnswer{status: resp.StatusCode, header: resp.Header, body: body}
	},
	"BadGateway": func(t *testing.T) exampleAnswer {
		// The client replies to the call with code 403.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42").answerCalls(func(call msg) msg {
			return msg{Type: "Reply", ID: call.ID, Code: 403, Msg: "not your turn"}
		})
		return ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"Move","data":{"to":"e4"}}`)
	},
	"Overloaded": func(t *testing.T) exampleAnswer {
		// With --max-broadcasts 1, broadcasts sent side by side soon
		// find one in flight.
		n := exampleNode(t, func(cfg *config.Config) { cfg.MaxBroadcasts = 1 })
		deadline := time.Now().Add(10 * time.Second)
		refused := make(chan exampleAnswer, 1)
		var done atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for !done.Load() && time.Now().Before(deadline) {
					ans, err := postAnywhere(t, n, "/broadcast", `{"type":"ServerNotice"}`)
					if err != nil {
						t.Error(err)
						return
					}
					if ans.status != http.StatusOK && done.CompareAndSwap(false, true) {
						refused <- ans
					}
				}
			})
		}
		wg.Wait()
		select {
		case ans := <-refused:
			return ans
		default:
			t.Fatal("no broadcast was refused within 10 s")
			return exampleAnswer{}
		}
	},
	"ServiceUnavailable": func(t *testing.T) exampleAnswer {
		// /readyz once the node has shut down, as on SIGTERM.
		n := exampleNode(t, nil)
		if err := n.shutdown(); err != nil {
			t.Fatal(err)
		}
		return ask(t, n, http.MethodGet, "/readyz", "")
	},
	"GatewayTimeout": func(t *testing.T) exampleAnswer {
		// A client that does not reply within timeout_ms.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42") // and never answer
		return ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"GetScore","timeout_ms":2000}`)
	},

	"listAgents 200": func(t *testing.T) exampleAnswer {
		// The first page of one, of two agents.
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42")
		dialWS(t, n, "?id=u43")
		join(t, n, "u42", "lobby")
		return ask(t, n, http.MethodGet, "/agents?limit=1", "",
			"items.0.remote_addr", "items.0.connected_at", "items.0.last_seen")
	},
	"getAgent 200": func(t *testing.T) exampleAnswer {
		// A proto client on TCP, named by its token.
		n := exampleNode(t, func(cfg *config.Config) { cfg.JWTSecret = exampleSecret; cfg.TCPCodec = "proto" })
		dialTCPAs(t, n, 0, clientToken(t, "u42"))
		return ask(t, n, http.MethodGet, "/agents/u42", "", "remote_addr", "connected_at", "last_seen")
	},
	"callAgent 200": func(t *testing.T) exampleAnswer {
		n := exampleNode(t, nil)
		dialWS(t, n, "?id=u42").answerCalls(func(call msg) msg {
			if call.Type != "GetScore" || string(call.Data) != `{"level":3}` {
				return msg{Type: "Reply", ID: call.ID, Code: 400, Msg: "unexpected call"}
			}
			return msg{Type: "Reply", ID: call.ID, Data: []byte(`{"score":1200}`)}
		})
		return ask(t, n, http.MethodPost, "/agents/u42/call", requestExample(t, "callAgent"))
	},
	"pushGroupEvent 200": func(t *testing.T) exampleAnswer {
		// Eight agents in the group, one outside it.
		n := exampleNode(t, nil)
		for i := range 8 {
			id := fmt.Sprintf("u%d", 42+i)
			dialWS(t, n, "?id="+id)
			join(t, n, id, "lobby")
		}
		dialWS(t, n, "?id=elsewhere") // not in the group
		return ask(t, n, http.MethodPost, "/groups/lobby/events", requestExample(t, "pushGroupEvent"))
	},
	"broadcast 200": func(t *testing.T) exampleAnswer {
		// Through one of three nodes, two agents on each.
		hub := pubsub.NewMemoryHub(1000, 64<<20)
		var nodes []*testNode
		for _, id := range []string{"node-a", "node-b", "node-c"} {
			n := startNodeOn(t, hub, func(cfg *config.Config) { cfg.NodeID = id })
			dialWS(t, n, "?id="+id+"-1")
			dialWS(t, n, "?id="+id+"-2")
			nodes = append(nodes, n)
		}
		return ask(t, nodes[0], http.MethodPost, "/broadcast", requestExample(t, "broadcast"))
	},
	"streamEvents 200": func(t *testing.T) exampleAnswer {
		// An agent connects, and is closed for a keepalive timeout while
		// the stream is idle enough to be pinged.
		n := exampleNode(t, func(cfg *config.Config) {
			cfg.KeepaliveInterval = 100 * time.Millisecond
			cfg.KeepaliveLimit = 300 * time.Millisecond
		}, withPingInterval(50*time.Millisecond))
		events := openEvents(t, n, nil)
		cli := dialWS(t, n, "?id=u42")
		// The client reads, which answers the node's close at once, but
		// sends nothing: it is closed for a keepalive timeout.
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				if _, _, err := cli.conn.Read(context.Background()); err != nil {
					return
				}
			}
		})
		t.Cleanup(func() {
			cli.conn.CloseNow()
			wg.Wait()
		})
		var text strings.Builder
		for {
			ev, ok := events.next(5 * time.Second)
			if !ok {
				t.Fatal("the stream ended")
			}
			text.WriteString(sseText(ev))
			if ev.Event == "agent.disconnected" {
				break
			}
		}
		return exampleAnswer{status: events.resp.StatusCode, header: events.resp.Header, body: []byte(text.String())}
	},
	"listNodes 200": func(t *testing.T) exampleAnswer {
		// A node whose --http is 10.0.0.5:8848, with two agents.
		n := exampleNode(t, func(cfg *config.Config) { cfg.HTTPAddr = "10.0.0.5:8848"; cfg.APIKey = "the-key" })
		dialWS(t, n, "?id=u42")
		dialWS(t, n, "?id=u43")
		return ask(t, n, http.MethodGet, "/nodes", "", "items.0.started_at", "items.0.last_heartbeat")
	},
	"healthz 200": func(t *testing.T) exampleAnswer {
		return ask(t, exampleNode(t, nil), http.MethodGet, "/healthz", "")
	},
	"readyz 200": func(t *testing.T) exampleAnswer {
		return ask(t, exampleNode(t, nil), http.MethodGet, "/readyz", "")
	},
	"metrics 200": func(t *testing.T) exampleAnswer {
		// After a call that timed out and one that was answered.
		n := exampleNode(t, nil)
		cli := dialWS(t, n, "?id=u42")
		if ans := ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"GetScore","timeout_ms":1}`); ans.status != http.StatusGatewayTimeout {
			t.Fatalf("a call to a client that does not answer: %d %s", ans.status, ans.body)
		}
		cli.answerCalls(echoReply)
		if ans := ask(t, n, http.MethodPost, "/agents/u42/call", `{"type":"GetScore"}`); ans.status != http.StatusOK {
			t.Fatalf("a call: %d %s", ans.status, ans.body)
		}
		return ask(t, n, http.MethodGet, "/metrics", "")
	},
	"openapiSpec 200": func(t *testing.T) exampleAnswer {
		ans := ask(t, exampleNode(t, nil), http.MethodGet, "/openapi.yaml", "")
		if !bytes.Equal(ans.body, api.Spec()) {
			t.Error("GET /openapi.yaml is not api/openapi.yaml")
		}
		ans.excerpt = true
		return ans
	},
}

// exampleSecret is the --jwt-secret of nodes whose clients need ids of
// their own on TCP.
const exampleSecret = "jwt-secret-for-tests-of-32-bytes"

// clientToken returns a client token for agent sub, signed with
// exampleSecret.
func clientToken(t testing.TB, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(exampleSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// exampleNode starts node "node-a" with the default config changed by
// tweak.
func exampleNode(t *testing.T, tweak func(*config.Config), opts ...nodeOption) *testNode {
	t.Helper()
	return startNode(t, func(cfg *config.Config) {
		cfg.NodeID = "node-a"
		if tweak != nil {
			tweak(cfg)
		}
	}, opts...)
}

// requestExample returns the example request body of an operation.
func requestExample(t testing.TB, operationID string) string {
	t.Helper()
	doc, err := specDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.OperationID == operationID && op.RequestBody != nil {
				if ex := op.RequestBody.Value.Content["application/json"].Example; ex != nil {
					return compact(ex)
				}
			}
		}
	}
	t.Fatalf("no example request of %s in api/openapi.yaml", operationID)
	return ""
}

// ask sends a request to n, with its API key and body as JSON (none
// when empty), and returns its answer, whose varying members are those
// named.
func ask(t testing.TB, n *testNode, method, path, body string, varying ...string) exampleAnswer {
	t.Helper()
	var r io.Reader
	contentType := ""
	if body != "" {
		r, contentType = strings.NewReader(body), "application/json"
	}
	resp, b := n.do(t, method, path, contentType, r)
	return exampleAnswer{status: resp.StatusCode, header: resp.Header, body: b, varying: varying}
}

// join puts agent id in group.
func join(t testing.TB, n *testNode, id, group string) {
	t.Helper()
	if ans := ask(t, n, http.MethodPut, "/agents/"+id+"/groups/"+group, ""); ans.status != http.StatusNoContent {
		t.Fatalf("PUT /agents/%s/groups/%s: %d %s", id, group, ans.status, ans.body)
	}
}

// goPost is ask for a POST on a goroutine of its own: the answer comes on
// the channel, which is closed instead when the request fails. The
// goroutine is waited for when the test ends.
func goPost(t testing.TB, n *testNode, path, body string) <-chan exampleAnswer {
	out := make(chan exampleAnswer, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		if ans, err := postAnywhere(t, n, path, body); err != nil {
			t.Error(err)
		} else {
			out <- ans
		}
	})
	t.Cleanup(wg.Wait)
	return out
}

// postAnywhere is ask for a POST without the API key, for any goroutine:
// it returns the error instead of failing t.
func postAnywhere(t testing.TB, n *testNode, path, body string) (exampleAnswer, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, n.url+path, strings.NewReader(body))
	if err != nil {
		return exampleAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.httpClient(t).Do(req)
	if err != nil {
		return exampleAnswer{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return exampleAnswer{}, fmt.Errorf("POST %s: reading the body: %w", path, err)
	}
	return exampleAnswer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}
