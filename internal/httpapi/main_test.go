package httpapi

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNode is one node, wired as cmd/server wires it, serving its HTTP
// router and its TCP listener on loopback.
type testNode struct {
	cfg     config.Config
	api     *API
	node    *node.Node
	url     string // http://127.0.0.1:port
	tcpAddr string
	// transport carries every test HTTP request to the node; its idle
	// connections are closed when the node stops.
	transport *http.Transport
}

// nodeOptions are what a test may set beyond Config.
type nodeOptions struct {
	// pingInterval, when set, replaces the 15 s between SSE pings.
	pingInterval time.Duration
	// bodyTimeout, when set, replaces how long a request body may take.
	bodyTimeout time.Duration
	// broker, when set, replaces the node's in-memory broker.
	broker pubsub.Broker
}

// nodeOption sets one of the nodeOptions.
type nodeOption func(*nodeOptions)

// withPingInterval makes idle SSE streams get ": ping" every d.
func withPingInterval(d time.Duration) nodeOption {
	return func(o *nodeOptions) { o.pingInterval = d }
}

// withBodyTimeout gives request bodies d to arrive.
func withBodyTimeout(d time.Duration) nodeOption {
	return func(o *nodeOptions) { o.bodyTimeout = d }
}

// withBroker makes the node use b, which must serve the node "test-node".
func withBroker(b pubsub.Broker) nodeOption {
	return func(o *nodeOptions) { o.broker = b }
}

// startNode starts a node alone, whose config is the test default
// changed by tweak. Everything stops, and is waited for, when the test
// ends.
func startNode(t testing.TB, tweak func(*config.Config), opts ...nodeOption) *testNode {
	t.Helper()
	return startNodeOn(t, nil, tweak, opts...)
}

// startNodeOn is startNode for a node of hub's in-memory cluster (alone
// when hub is nil); tweak should give each node of a hub its own NodeID.
func startNodeOn(t testing.TB, hub *pubsub.MemoryHub, tweak func(*config.Config), opts ...nodeOption) *testNode {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = "test-node"
	cfg.DrainTimeout = 200 * time.Millisecond
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var o nodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.broker != nil:
	case hub != nil:
		o.broker = hub.Join(cfg.NodeID)
	default:
		o.broker = pubsub.NewMemory(cfg.NodeID, cfg.EventRetention, cfg.EventRetentionBytes)
	}
	nd := node.New(cfg, node.Options{Broker: o.broker})
	nd.Start()
	a := New(cfg, nd, slog.New(slog.DiscardHandler))
	if o.pingInterval != 0 {
		a.pingInterval = o.pingInterval
	}
	if o.bodyTimeout != 0 {
		a.bodyTimeout = o.bodyTimeout
	}
	hs := httptest.NewUnstartedServer(a.Router())
	hs.Config.ConnState = a.ConnState
	hs.Start()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpDone := make(chan error, 1)
	go func() { tcpDone <- nd.ServeTCP(ln) }()

	n := &testNode{
		cfg:       cfg,
		api:       a,
		node:      nd,
		url:       hs.URL,
		tcpAddr:   ln.Addr().String(),
		transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}
	t.Cleanup(func() {
		ln.Close()
		if err := <-tcpDone; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
		if err := n.shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
		n.transport.CloseIdleConnections()
	})
	return n
}

// shutdown stops the node as SIGTERM does: /readyz turns 503, calls
// drain, agents are kicked, SSE streams end. It may be called more than
// once.
func (n *testNode) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.node.Shutdown(ctx)
}

// httpClient returns an HTTP client whose every response is checked
// against api/openapi.yaml; a mismatch fails t.
func (n *testNode) httpClient(t testing.TB) *http.Client {
	return &http.Client{Transport: &validatingTransport{t: t, base: n.transport}}
}

// clientWithKey returns the generated client of the REST API, sending key as
// the API key when it is not empty, over a validating HTTP client.
func (n *testNode) clientWithKey(t testing.TB, key string) *client.ClientWithResponses {
	t.Helper()
	opts := []client.ClientOption{client.WithHTTPClient(n.httpClient(t))}
	if key != "" {
		opts = append(opts, client.WithRequestEditorFn(bearer(key)))
	}
	c, err := client.NewClientWithResponses(n.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client returns the generated client with the node's own API key.
func (n *testNode) client(t testing.TB) *client.ClientWithResponses {
	t.Helper()
	return n.clientWithKey(t, n.cfg.APIKey)
}

func bearer(key string) client.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
}

// do sends a raw request through a validating client, with the node's API
// key, and returns the response with its body read.
func (n *testNode) do(t testing.TB, method, path, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if n.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+n.cfg.APIKey)
	}
	resp, err := n.httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// metric returns the value of the sample of /metrics whose name and
// labels are exactly series (`hotpot_calls_total{outcome="ok"}`), or 0
// when there is none.
func (n *testNode) metric(t testing.TB, series string) float64 {
	t.Helper()
	resp, body := n.do(t, http.MethodGet, "/metrics", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return 0
}

// eventually polls cond every few milliseconds until it holds, and fails
// t if it still does not after a few seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged returns the SSE frames of the events in the node's log that f
// matches, oldest first: what a stream with those filters would replay.
func (n *testNode) logged(f events.Filter) []byte {
	sub, _ := n.node.Events().Subscribe(f, "0-0") // an unknown id: from the oldest kept
	defer sub.Close()
	var all []byte
	for {
		buf, more, err := sub.Read(all)
		if err != nil {
			return all
		}
		all = buf
		select {
		case <-more:
		default:
			return all
		}
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
