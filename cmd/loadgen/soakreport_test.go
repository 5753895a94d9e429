package main

import (
	"strings"
	"testing"
	"time"
)

func TestVerdictNoiseRule(t *testing.T) {
	r := &soakRun{noise: 0.2, noiseMin: 5 * time.Millisecond}
	clean := func(callP99, delayP99 float64) *phaseResult {
		return &phaseResult{CallP99MS: callP99, DelayP99MS: delayP99, CallsOK: 1, Deliveries: 1}
	}
	for _, tc := range []struct {
		name        string
		base, mis   *phaseResult
		noExtra     bool
		nothingLost bool
	}{
		{"same", clean(4, 50), clean(4, 50), true, true},
		{"within the 5 ms floor", clean(4, 10), clean(9, 15), true, true},
		{"over the 5 ms floor", clean(4, 10), clean(9.1, 10), false, true},
		{"within 20 %", clean(4, 100), clean(4, 120), true, true},
		{"over 20 %", clean(4, 100), clean(4, 120.5), false, true},
		{"faster is fine", clean(40, 100), clean(4, 10), true, true},
		{"a lost delivery", clean(4, 50), &phaseResult{CallsOK: 1, Deliveries: 1, Lost: 1}, true, false},
		{"a closed agent", clean(4, 50), &phaseResult{CallsOK: 1, Deliveries: 1, AgentsClosed: 1}, true, false},
		{"a failed call", &phaseResult{CallsOK: 1, Deliveries: 1, CallFailures: 1}, clean(4, 50), false, false},
		{"nothing measured", clean(4, 50), &phaseResult{}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := r.verdict(tc.base, tc.mis, settled{Back: true})
			if v.NoExtraDelay != tc.noExtra || v.NothingLost != tc.nothingLost {
				t.Fatalf("no extra delay %v, nothing lost %v; want %v, %v (%+v)", v.NoExtraDelay, v.NothingLost, tc.noExtra, tc.nothingLost, v)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	before, err := parseMetrics(strings.NewReader(`# HELP hotpot_kicks_total Agents closed.
# TYPE hotpot_kicks_total counter
hotpot_kicks_total{reason="rate limited"} 3
go_goroutines 100
`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMetrics(strings.NewReader(`hotpot_kicks_total{reason="rate limited"} 10
hotpot_kicks_total{reason="slow consumer"} 2
hotpot_kicks_total{reason="kicked"} 0
hotpot_agents{transport="ws",codec="json"} 90
hotpot_agents{transport="tcp",codec="json"} 10
go_goroutines 120
process_open_fds 7
`))
	if err != nil {
		t.Fatal(err)
	}
	kicks := after.labelled(before, "hotpot_kicks_total", "reason")
	if len(kicks) != 2 || kicks["rate limited"] != 7 || kicks["slow consumer"] != 2 {
		t.Fatalf("kicks %v", kicks)
	}
	if got := describeCounts(kicks); got != "rate limited ×7; slow consumer ×2" {
		t.Fatalf("described %q", got)
	}
	h := after.holdings()
	if h != (holdings{Goroutines: 120, OpenFDs: 7, Agents: 100}) {
		t.Fatalf("holdings %+v", h)
	}
	if !h.backTo(holdings{Goroutines: 100, OpenFDs: 7, Agents: 100}) || h.backTo(holdings{Goroutines: 90, OpenFDs: 7, Agents: 100}) {
		t.Fatal("backTo: 120 goroutines should be within the margin of 100, not of 90")
	}
}

func TestKickedReasonAndTally(t *testing.T) {
	if got := kickedReason([]byte(`{"reason":"rate limited"}`)); got != `"rate limited"` {
		t.Fatalf("reason %s", got)
	}
	k := newKindStats()
	frameTally{errs: map[int32]int64{429: 3}, kicked: `"rate limited"`, end: "close 1008"}.record(k, "")
	frameTally{errs: map[int32]int64{401: 1}, end: "EOF"}.record(k, "tcp: ")
	frameTally{errs: map[int32]int64{400: 2}}.record(k, "")
	want := `Error 429 ×3; Error 400 ×2; Kicked "rate limited", close 1008 ×1; tcp: Error 401, EOF ×1`
	if got := k.describe(); got != want {
		t.Fatalf("outcomes\n%s\nwant\n%s", got, want)
	}
}

func TestTCPShare(t *testing.T) {
	g := &goodAgents{run: &soakRun{tcpShare: 0.1}}
	tcp := 0
	for i := range 1000 {
		if g.onTCP(i) {
			tcp++
		}
	}
	if tcp != 100 {
		t.Fatalf("%d of 1000 on TCP, want 100", tcp)
	}
}
