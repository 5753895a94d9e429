package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// latencies records round-trip durations. It is not safe for concurrent
// use: each worker records into its own, and the report merges them.
type latencies []time.Duration

// add records one round trip.
func (l *latencies) add(d time.Duration) { *l = append(*l, d) }

// summary describes a set of round trips.
type summary struct {
	count              int
	p50, p90, p99, max time.Duration
}

// summarize merges the workers' latencies and computes their summary.
func summarize(parts []latencies) summary {
	var all []time.Duration
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all) == 0 {
		return summary{}
	}
	slices.Sort(all)
	return summary{
		count: len(all),
		p50:   percentile(all, 50),
		p90:   percentile(all, 90),
		p99:   percentile(all, 99),
		max:   all[len(all)-1],
	}
}

// percentile returns the nearest-rank p-th percentile of sorted, which
// must not be empty: the smallest value that at least p percent of the
// values are less than or equal to.
func percentile(sorted []time.Duration, p float64) time.Duration {
	// The rank is ceil(p/100 × n), computed in integers (p in hundredths
	// of a percent) so that, say, the 90th of 10 values is exactly the 9th
	// rather than the 10th.
	n := len(sorted)
	rank := (int(math.Round(p*100))*n + 9999) / 10000
	return sorted[max(rank, 1)-1]
}

// report writes the summary of round trips made over elapsed.
func (s summary) report(w io.Writer, elapsed time.Duration) {
	fmt.Fprintf(w, "round trips  %d in %v\n", s.count, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "throughput   %.0f msgs/s\n", perSecond(int64(s.count), elapsed))
	fmt.Fprintf(w, "latency      %s\n", s)
}

// String returns the summary's percentiles and maximum, rounded.
func (s summary) String() string {
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v",
		roundLatency(s.p50), roundLatency(s.p90), roundLatency(s.p99), roundLatency(s.max))
}

// perSecond returns the rate of n events over elapsed; 0 when no time
// has passed.
func perSecond(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// roundLatency keeps three significant digits or so of a latency.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// failures counts errors of one kind and keeps the first, so that a run
// where thousands of agents fail alike reports one example, not thousands.
// It is safe for concurrent use.
type failures struct {
	mu    sync.Mutex
	n     int64
	first error
}

// add counts err and reports whether it is the first.
func (f *failures) add(err error) (first bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n == 1 {
		f.first = err
	}
	return f.n == 1
}

// count returns how many errors were added.
func (f *failures) count() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// firstErr returns the first error added, or nil.
func (f *failures) firstErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// String describes the failures: their count and the first.
func (f *failures) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (first: %v)", f.n, f.first)
}
