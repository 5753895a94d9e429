package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A soak run reads the node's /metrics around each phase: what the node
// says it did (kicks by reason, frames refused over the rate limit) and
// what it holds (goroutines, open files, agents, HTTP connections), so
// that a node that does not give back what the misbehavers took shows.

// metrics is one reading of a node's /metrics: each sample's value by its
// name and labels as written ("hotpot_kicks_total{reason=\"kicked\"}").
type metrics map[string]float64

// scrapeMetrics reads the node's /metrics.
func (f *apiFlags) scrapeMetrics(ctx context.Context, c *http.Client) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if f.key != "" {
		req.Header.Set("Authorization", "Bearer "+f.key)
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	return parseMetrics(res.Body)
}

// parseMetrics reads the Prometheus text format: comments are skipped,
// and each sample line is a name, labels perhaps, and a value.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// labelled returns, for the samples of metric name with a label called
// label, the growth of each from before to m by that label's value; those
// that did not grow are left out.
func (m metrics) labelled(before metrics, name, label string) map[string]int64 {
	out := map[string]int64{}
	prefix := name + "{" + label + `="`
	for k, v := range m {
		value, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		value, _, _ = strings.Cut(value, `"`)
		if d := int64(v - before[k]); d > 0 {
			out[value] += d
		}
	}
	return out
}

// holdings is what a node holds at one moment, from its metrics.
type holdings struct {
	Goroutines int64 `json:"goroutines"`
	OpenFDs    int64 `json:"open_fds"`
	Agents     int64 `json:"agents"`
	HTTPConns  int64 `json:"http_conns"`
}

func (m metrics) holdings() holdings {
	return holdings{Goroutines: m.sum("go_goroutines"), OpenFDs: m.sum("process_open_fds"),
		Agents: m.sum("hotpot_agents"), HTTPConns: m.sum("hotpot_http_connections")}
}

// sum adds up the samples of metric name, whatever their labels.
func (m metrics) sum(name string) int64 {
	var total float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return int64(total)
}

func (h holdings) String() string {
	return fmt.Sprintf("goroutines %d, open files %d, agents %d, HTTP connections %d", h.Goroutines, h.OpenFDs, h.Agents, h.HTTPConns)
}

// backTo reports whether h is no more than base: within a margin for
// goroutines and files that come and go with the load, exactly for
// agents.
func (h holdings) backTo(base holdings) bool {
	return h.Goroutines <= base.Goroutines+base.Goroutines/50+20 && h.OpenFDs <= base.OpenFDs+base.OpenFDs/100+10 &&
		h.Agents <= base.Agents && h.HTTPConns <= base.HTTPConns+10
}

// settleWait bounds how long a soak run waits, after the misbehavers
// have left, for the node to give back what they took: their
// connections end within the node's handshake, body and close timeouts
// (10 s at most).
const settleWait = 20 * time.Second

// settled is how the node came back after the misbehavers left.
type settled struct {
	Back    bool     `json:"back_to_baseline"`
	Seconds float64  `json:"seconds"`
	Now     holdings `json:"holdings"`
	err     string
}

// settle waits until the node holds no more than base, or settleWait
// passes.
func (r *soakRun) settle(ctx context.Context, base holdings) settled {
	c := r.api.client(1)
	defer c.CloseIdleConnections()
	start := time.Now()
	for {
		m, err := r.api.scrapeMetrics(ctx, c)
		if err != nil {
			return settled{err: err.Error()}
		}
		s := settled{Now: m.holdings(), Seconds: time.Since(start).Seconds()}
		if s.Back = s.Now.backTo(base); s.Back || time.Since(start) > settleWait || !sleep(ctx, 500*time.Millisecond) {
			return s
		}
	}
}

// describeCounts lists counts by name, largest first: "a ×3; b ×1".
func describeCounts(counts map[string]int64) string {
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		if d := counts[b] - counts[a]; d != 0 {
			return int(min(max(d, -1), 1))
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, counts[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}
