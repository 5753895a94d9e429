package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"one value is every percentile", ms(7), 1, 7 * time.Millisecond},
		{"p50 of two is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"p51 of two is the upper", ms(1, 2), 51, 2 * time.Millisecond},
		{"p90 of ten is the 9th, not the 10th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the 10th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p50 of four is the 2nd", ms(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"p99.9 of 1000 is the 999th", ms(seq(1000)...), 99.9, 999 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 100, 9 * time.Millisecond},
		{"tiny p is the min", ms(1, 5, 9), 0.01, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// TestSummarizeMergesUnsortedParts checks that the workers' samples are
// merged and sorted before ranks are taken, whatever order they came in.
func TestSummarizeMergesUnsortedParts(t *testing.T) {
	// 1..1000 µs, shuffled and dealt unevenly over three workers, one empty.
	all := make([]time.Duration, 1000)
	for i := range all {
		all[i] = time.Duration(i+1) * time.Microsecond
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	parts := []latencies{all[:10], nil, all[10:700], all[700:]}

	got := summarize(parts)
	want := summary{
		count: 1000,
		p50:   500 * time.Microsecond,
		p90:   900 * time.Microsecond,
		p99:   990 * time.Microsecond,
		max:   1000 * time.Microsecond,
	}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	if got := summarize([]latencies{nil, {}}); got != (summary{}) {
		t.Errorf("summarize of nothing = %+v, want zero", got)
	}
}

func TestReport(t *testing.T) {
	s := summary{count: 25000, p50: 1234567, p90: 2 * time.Millisecond, p99: 345 * time.Microsecond, max: 123456789}
	var b bytes.Buffer
	s.report(&b, 10*time.Second)
	for _, want := range []string{
		"round trips  25000 in 10s\n",
		"throughput   2500 msgs/s\n",
		"p50 1.23ms  p90 2ms  p99 345µs  max 123ms\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSummaryString(t *testing.T) {
	s := summary{count: 3, p50: 1234567, p90: 2 * time.Millisecond, p99: 345 * time.Microsecond, max: 123456789}
	if got, want := s.String(), "p50 1.23ms  p90 2ms  p99 345µs  max 123ms"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestPerSecond(t *testing.T) {
	tests := []struct {
		n       int64
		elapsed time.Duration
		want    float64
	}{
		{25000, 10 * time.Second, 2500},
		{150, 15 * time.Second, 10},
		{3, 1500 * time.Millisecond, 2},
		{5, 0, 0},
		{5, -time.Second, 0},
	}
	for _, tt := range tests {
		if got := perSecond(tt.n, tt.elapsed); got != tt.want {
			t.Errorf("perSecond(%d, %v) = %v, want %v", tt.n, tt.elapsed, got, tt.want)
		}
	}
}
