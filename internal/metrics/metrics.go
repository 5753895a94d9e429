// Package metrics owns the node's Prometheus metrics: one registry per
// node (no global state), and the collectors the other packages update.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the node's collectors. Its fields are safe for concurrent
// use.
type Metrics struct {
	registry *prometheus.Registry

	// Agents counts connected agents by transport and codec.
	Agents *prometheus.GaugeVec
	// FramesIn and FramesOut count frames by transport.
	FramesIn, FramesOut *prometheus.CounterVec
	// FramesRateLimited counts received frames refused by the per-agent
	// rate limit, by transport.
	FramesRateLimited *prometheus.CounterVec
	// Calls counts REST calls by outcome.
	Calls *prometheus.CounterVec
	// CallSeconds observes how long REST calls took, whatever the outcome.
	CallSeconds prometheus.Histogram
	// LateReplies counts replies that found no waiting call.
	LateReplies prometheus.Counter
	// Kicks counts agents the node closed, by reason.
	Kicks *prometheus.CounterVec

	// ClusterRequests counts requests this node sent to others, by
	// operation and outcome.
	ClusterRequests *prometheus.CounterVec
	// ClusterRequestSeconds observes how long other nodes took to answer.
	ClusterRequestSeconds prometheus.Histogram
	// ClusterErrors counts failed cluster (Redis) operations, by operation.
	ClusterErrors *prometheus.CounterVec
	// OutboxEvents is how many agent events wait to be published to the
	// cluster's stream.
	OutboxEvents prometheus.Gauge
	// EventsDropped counts agent events dropped from a full outbox while
	// the cluster was unreachable.
	EventsDropped prometheus.Counter
	// FanOutsRefused counts broadcasts and group pushes refused because
	// the node had too many in flight.
	FanOutsRefused prometheus.Counter
	// HTTPConns is how many HTTP connections are open (not counting
	// upgraded WebSockets); HTTPConnsRefused counts those closed at once
	// beyond --max-http-conns.
	HTTPConns        prometheus.Gauge
	HTTPConnsRefused prometheus.Counter
}

// New returns a fresh set of collectors, registered with their own
// registry together with the Go runtime and process collectors.
// sseSubscribers is read at scrape time.
func New(sseSubscribers func() int) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		Agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotpot_agents", Help: "Agents connected to this node, by transport and codec.",
		}, []string{"transport", "codec"}),
		FramesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_frames_in_total", Help: "Frames received from agents.",
		}, []string{"transport"}),
		FramesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_frames_out_total", Help: "Frames written to agents.",
		}, []string{"transport"}),
		FramesRateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_frames_rate_limited_total", Help: "Frames received from agents over their rate limit, answered with Error 429 and not handled.",
		}, []string{"transport"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_calls_total", Help: "Calls to agents through the REST API, by outcome.",
		}, []string{"outcome"}),
		CallSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotpot_call_duration_seconds",
			Help:    "Time from a REST call's arrival to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14), // 100µs … ~15 min tail
		}),
		LateReplies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpot_late_replies_total", Help: "Replies that arrived after their call ended, or for no call.",
		}),
		Kicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_kicks_total", Help: "Agents closed by the node, by reason (keepalive timeout, slow consumer, …).",
		}, []string{"reason"}),
		ClusterRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_cluster_requests_total", Help: "Requests sent to other nodes, by operation and outcome.",
		}, []string{"op", "outcome"}),
		ClusterRequestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotpot_cluster_request_duration_seconds",
			Help:    "Time from sending a request to another node to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}),
		ClusterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotpot_cluster_errors_total", Help: "Failed cluster (Redis) operations, by operation.",
		}, []string{"op"}),
		OutboxEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotpot_outbox_events", Help: "Agent events waiting to be published to the cluster's event stream.",
		}),
		EventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpot_events_dropped_total", Help: "Agent events dropped from a full outbox while the cluster was unreachable.",
		}),
		FanOutsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpot_fanouts_refused_total", Help: "Broadcasts and group pushes refused (503) because too many were in flight.",
		}),
		HTTPConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotpot_http_connections", Help: "Open HTTP connections, upgraded WebSockets not counted.",
		}),
		HTTPConnsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotpot_http_connections_refused_total", Help: "HTTP connections closed at once beyond --max-http-conns.",
		}),
	}
	m.registry.MustRegister(m.FanOutsRefused, m.HTTPConns, m.HTTPConnsRefused,
		m.Agents, m.FramesIn, m.FramesOut, m.FramesRateLimited, m.Calls, m.CallSeconds, m.LateReplies, m.Kicks,
		m.ClusterRequests, m.ClusterRequestSeconds, m.ClusterErrors, m.OutboxEvents, m.EventsDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotpot_sse_subscribers", Help: "Open SSE subscriptions.",
		}, func() float64 { return float64(sseSubscribers()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
