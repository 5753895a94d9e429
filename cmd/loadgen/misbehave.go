package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// A soak run's misbehavers are clients that break the rules in every way
// a node defends against, one way each, again and again: when the node
// closes one, it waits a pause and comes back, so the pressure stays for
// the whole phase. Each records what the node did to it (the outcomes),
// so that a run shows the defences held under load, not only that the
// well-behaved agents were spared.

// misbehaviour is one way of breaking the rules.
type misbehaviour struct {
	name string
	// does says what its clients do, and expect what the node should do
	// to them; defences are the outcomes that show it did.
	does, expect string
	defences     []string
	// run misbehaves as misbehaver m until ctx ends.
	run func(m *misbehaver, ctx context.Context)
}

// misbehaviours are the kinds, in the order misbehavers are given them:
// misbehaver i does the (i mod k)-th of the k a run asks for (all by
// default).
var misbehaviours = []misbehaviour{
	{"slow-consumer", "WebSocket with a 4 KiB receive buffer that never reads, asking for -echo-bytes Echoes at 80/s",
		"closed (send queue full, or its writes time out)", []string{outClosedUnread},
		(*misbehaver).slowConsumer},
	{"flood", "WebSocket sending -flood-rate messages a second, beyond the rate limit",
		`Error 429 for the excess, then Kicked "rate limited", close 1008`, []string{`Kicked "rate limited", close 1008`},
		(*misbehaver).flood},
	{"oversize", "a frame one byte over -max-message-bytes: on WebSocket, and on TCP (a longer length prefix) when the prefix can say it",
		`Kicked "message too big", WS close 1009 / TCP closed`, []string{`ws: Kicked "message too big", close 1009`, `tcp: Kicked "message too big", EOF`},
		(*misbehaver).oversize},
	{"malformed", "one WebSocket or TCP connection sending malformed frames at 20/s",
		"Error 400 for each, the connection stays", []string{"Error 400"},
		(*misbehaver).malformed},
	{"tcp-garbage", "TCP connections that send an HTTP request, a TLS hello, random bytes or an empty frame",
		"Error 401 (no Auth) and closed", []string{"Error 401, EOF"},
		(*misbehaver).tcpGarbage},
	{"preauth-hold", "-hold-conns TCP connections each that never send Auth, from -preauth-from",
		"Error 401 and closed after 5 s; Error 429 at once beyond --max-handshakes-per-ip", []string{"Error 401, EOF", "Error 429, EOF"},
		(*misbehaver).preauthHold},
	{"slow-body", "-hold-conns HTTP connections each to the REST port sending a body, or headers, one byte a second",
		"HTTP 408 for a slow body, 400 for slow headers (10 s)", []string{"body: HTTP 408", "headers: HTTP 400"},
		(*misbehaver).slowBody},
	{"bad-token", "WebSocket handshakes and TCP Auths with bad tokens: none, garbage, wrong secret, expired, no exp, alg none, HS512, invalid sub",
		"WS 401 at the handshake, TCP Error 401 and closed", []string{"ws: HTTP 401", "tcp: Error 401, EOF"},
		(*misbehaver).badToken},
	{"call-pileup", "a WebSocket agent that never replies, with -pile-calls REST calls kept in flight to it",
		"HTTP 504 at the call's timeout; HTTP 429 beyond --max-pending-calls", []string{"HTTP 504", "HTTP 429"},
		(*misbehaver).callPileup},
}

// Outcomes shared by several misbehaviours.
const (
	outClosedUnread = "closed while not reading"
	outOpenAtEnd    = "still open at the end"
)

// misbehaveEnv is what every misbehaver of a run shares. Its fields are
// set before the misbehavers start and not changed after.
type misbehaveEnv struct {
	proto   *protocol // WebSocket URLs and dial timeout
	tcpAddr string    // the node's TCP port; empty: no TCP misbehaviour
	framing tcpFraming
	api     *apiFlags
	minter  minter
	// pause is how long a misbehaver waits after being refused or closed.
	pause time.Duration
	// maxMessage is the node's --max-message-bytes.
	maxMessage int
	floodRate  float64
	// echoBytes is the size of the Echoes a slow consumer asks for.
	echoBytes int
	// holdConns is how many connections each preauth-hold and slow-body
	// misbehaver keeps open; pileCalls how many calls each call-pileup
	// misbehaver keeps in flight.
	holdConns, pileCalls int
	// preauthFrom is the source address of pre-auth holders ("": any).
	preauthFrom string
	// smallBuffers dials WebSocket connections with a small receive
	// buffer, for the slow consumers.
	smallBuffers *http.Client
}

// misbehaver is one misbehaving client, of one kind.
type misbehaver struct {
	env   *misbehaveEnv
	n     int // its number among the run's misbehavers
	nth   int // its number among those of its kind
	kind  *misbehaviour
	stats *kindStats
}

// id returns the agent id of the misbehaver's connections.
func (m *misbehaver) id() string {
	return fmt.Sprintf("soak-bad-%s-%d", m.kind.name, m.n)
}

// again runs attempt until ctx ends, pausing after each: one attempt is
// one connection, from dial to close.
func (m *misbehaver) again(ctx context.Context, attempt func(i int)) {
	for i := 0; ctx.Err() == nil; i++ {
		m.stats.attempt()
		start := time.Now()
		attempt(i)
		if ctx.Err() == nil {
			m.stats.took(time.Since(start))
		}
		sleep(ctx, m.env.pause)
	}
}

// odd records an unexpected outcome, unless it is only the end of the
// phase cutting an attempt short.
func (m *misbehaver) odd(ctx context.Context, format string, args ...any) {
	if ctx.Err() == nil {
		m.stats.odd(fmt.Errorf(format, args...))
	}
}

// kindStats adds up what the node did to the misbehavers of one kind. It
// is safe for concurrent use.
type kindStats struct {
	unexpected failures

	mu       sync.Mutex // guards the fields below
	clients  int
	attempts int64
	outcomes map[string]int64
	lengths  latencies // how long each attempt that ended by itself took
}

func newKindStats() *kindStats { return &kindStats{outcomes: map[string]int64{}} }

func (k *kindStats) attempt() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.attempts++
}

// saw counts n of an outcome.
func (k *kindStats) saw(outcome string, n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.outcomes[outcome] += n
}

func (k *kindStats) took(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lengths.add(d)
}

func (k *kindStats) odd(err error) { k.unexpected.add(err) }

// describe lists the outcomes, most frequent first.
func (k *kindStats) describe() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.outcomes) == 0 {
		return ""
	}
	return describeCounts(k.outcomes)
}

// defended reports which of the defences were seen.
func (k *kindStats) defended(defences []string) (seen, missing []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, d := range defences {
		if k.outcomes[d] > 0 {
			seen = append(seen, d)
		} else {
			missing = append(missing, d)
		}
	}
	return seen, missing
}

// dialWS opens a WebSocket connection for agent id with a valid token and
// the JSON codec, within the dial timeout; it does not wait for Welcome.
// small gives it a small receive buffer.
func (e *misbehaveEnv) dialWS(ctx context.Context, id string, small bool) (*websocket.Conn, error) {
	token, err := e.minter.token(id)
	if err != nil {
		return nil, err
	}
	return e.dialWSToken(ctx, token, small)
}

// dialWSToken opens a WebSocket connection presenting token ("": none).
func (e *misbehaveEnv) dialWSToken(ctx context.Context, token string, small bool) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.proto.timeout)
	defer cancel()
	u := e.proto.url(0)
	if token != "" {
		u = withQuery(u, "token", token)
	}
	opts := &websocket.DialOptions{Subprotocols: []string{"hotpot.json"}}
	if small {
		opts.HTTPClient = e.smallBuffers
	}
	ws, res, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		if res != nil {
			return nil, &httpStatusError{res.StatusCode}
		}
		return nil, err
	}
	ws.SetReadLimit(maxTCPFrame)
	return ws, nil
}

// httpStatusError is a WebSocket handshake answered with another status
// than 101.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

// withQuery adds name=value to a URL's query.
func withQuery(u, name, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + name + "=" + url.QueryEscape(value)
}

// smallBufferClient returns an HTTP client for WebSocket dials whose
// connections have a receive buffer of bytes, so that a client that stops
// reading fills up soon.
func smallBufferClient(bytes int) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(bytes)
			}
			return c, err
		},
	}}
}

// misbehavers runs the misbehavers of one phase.
type misbehavers struct {
	stats  []*kindStats // by kind, as misbehaviours
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startMisbehavers starts n misbehavers, spread round robin over the
// misbehaviours whose indexes are kinds, each on its own goroutine, until
// stop is called.
func startMisbehavers(ctx context.Context, env *misbehaveEnv, n int, kinds []int) *misbehavers {
	ctx, cancel := context.WithCancel(ctx)
	ms := &misbehavers{cancel: cancel, stats: make([]*kindStats, len(misbehaviours))}
	for i := range ms.stats {
		ms.stats[i] = newKindStats()
	}
	for i := range n {
		ms.stats[kinds[i%len(kinds)]].clients++
	}
	for i := range n {
		k := kinds[i%len(kinds)]
		m := &misbehaver{env: env, n: i, nth: i / len(kinds), kind: &misbehaviours[k], stats: ms.stats[k]}
		ms.wg.Go(func() { m.kind.run(m, ctx) })
	}
	return ms
}

// parseKinds returns the indexes of the misbehaviours named in list,
// comma-separated; "all" names every one.
func parseKinds(list string) ([]int, error) {
	if list == "all" {
		kinds := make([]int, len(misbehaviours))
		for i := range kinds {
			kinds[i] = i
		}
		return kinds, nil
	}
	var kinds []int
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(misbehaviours, func(m misbehaviour) bool { return m.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("no misbehaviour %q: want all, or some of %s", name, kindNames())
		}
		kinds = append(kinds, i)
	}
	return kinds, nil
}

// kindNames lists the misbehaviours' names, comma-separated.
func kindNames() string {
	names := make([]string, len(misbehaviours))
	for i, m := range misbehaviours {
		names[i] = m.name
	}
	return strings.Join(names, ",")
}

// stop ends the misbehavers and waits for them.
func (ms *misbehavers) stop() {
	ms.cancel()
	ms.wg.Wait()
}
