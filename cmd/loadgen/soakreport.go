package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"strings"
	"time"
)

// phaseResult is what one phase of a soak run measured, for the
// well-behaved agents only, and what the misbehavers met.
type phaseResult struct {
	Name        string  `json:"name"`
	Misbehavers int     `json:"misbehavers"`
	Seconds     float64 `json:"seconds"`

	// Calls were sent; CallsOK answered 200 with their data;
	// CallFailures are the rest, and those due but not sent.
	Calls        int64   `json:"calls"`
	CallsOK      int64   `json:"calls_ok"`
	CallFailures int64   `json:"call_failures"`
	CallP50MS    float64 `json:"call_p50_ms"`
	CallP99MS    float64 `json:"call_p99_ms"`
	CallMaxMS    float64 `json:"call_max_ms"`

	// Broadcasts were sent; BroadcastsOK answered 200. Deliveries of
	// those reached well-behaved agents, out of Expected (agents ×
	// BroadcastsOK); Lost never did.
	Broadcasts        int     `json:"broadcasts"`
	BroadcastsOK      int     `json:"broadcasts_ok"`
	BroadcastFailures int64   `json:"broadcast_failures"`
	Deliveries        int64   `json:"deliveries"`
	Expected          int64   `json:"expected"`
	Lost              int64   `json:"lost"`
	Duplicates        int64   `json:"duplicates"`
	BadStamps         int64   `json:"bad_stamps"`
	DelayP50MS        float64 `json:"delivery_p50_ms"`
	DelayP99MS        float64 `json:"delivery_p99_ms"`
	DelayMaxMS        float64 `json:"delivery_max_ms"`

	// AgentsClosed counts well-behaved agents whose connection ended;
	// UnexpectedFrames the Error and Kicked frames they got; ReplyFailures
	// replies they could not send.
	AgentsClosed     int64 `json:"agents_closed"`
	UnexpectedFrames int64 `json:"unexpected_frames"`
	ReplyFailures    int64 `json:"reply_failures"`

	// The server's CPU (-pid) over the measured span, per operation (a
	// call answered or a delivery), and its resident memory at the end
	// and at its peak.
	ServerCPUs     float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	ServerCPUPct   float64 `json:"server_cpu_pct,omitempty"`
	RSSMiB         float64 `json:"rss_mib,omitempty"`
	RSSPeakMiB     float64 `json:"rss_peak_mib,omitempty"`
	LoadgenCPUPct  float64 `json:"loadgen_cpu_pct"`
	// MachineBusyPct is how busy the whole machine was, in % of one core
	// (Cores × 100 is all of it): what neither the server nor loadgen
	// used of it is other processes, the noise of a shared machine.
	MachineBusyPct float64 `json:"machine_busy_pct,omitempty"`
	Cores          int     `json:"cores"`

	// What the node's /metrics said: agents it closed, by reason, frames
	// it received from all agents and those it refused over the rate
	// limit, during the phase; what it held at the phase's end.
	Kicks       map[string]int64 `json:"kicks,omitempty"`
	FramesIn    int64            `json:"frames_in"`
	RateLimited int64            `json:"rate_limited_frames"`
	Holding     holdings         `json:"holding"`

	Misbehaviour []kindResult `json:"misbehaviour,omitempty"`

	call, delay         summary
	metricsErr          string
	settings            string // the misbehavers' flags
	firstErrs           []string
	meterErr            string
	callRate, bcastRate float64
}

// fill adds up what the phase recorded for its n well-behaved agents.
func (res *phaseResult) fill(p *phase, n int) {
	res.Calls = p.calls.sent.Load() + p.calls.notSent.Load()
	res.call = summarize([]latencies{p.calls.lat})
	res.CallsOK = int64(res.call.count)
	res.CallFailures = p.calls.failed.count() + p.calls.notSent.Load()
	res.CallP50MS, res.CallP99MS, res.CallMaxMS = ms(res.call.p50), ms(res.call.p99), ms(res.call.max)

	o := p.tl.outcome(int64(n))
	res.Broadcasts, res.BroadcastsOK = o.sent+int(p.tl.notSent.Load()), o.answered
	res.BroadcastFailures = p.tl.timedOut.count() + p.tl.failed.count() + p.tl.notSent.Load()
	res.Deliveries, res.Expected, res.Lost = o.received, o.expected, o.lost
	delays := make([]latencies, len(p.recs))
	for i := range p.recs {
		rec := &p.recs[i]
		rec.mu.Lock()
		delays[i] = rec.delays
		res.Duplicates += rec.dups
		res.BadStamps += rec.bad
		rec.mu.Unlock()
	}
	res.delay = summarize(delays)
	res.DelayP50MS, res.DelayP99MS, res.DelayMaxMS = ms(res.delay.p50), ms(res.delay.p99), ms(res.delay.max)
}

// serverCPU records the server's CPU over elapsed.
func (res *phaseResult) serverCPU(used []time.Duration, elapsed time.Duration) {
	if len(used) == 0 {
		return
	}
	var total time.Duration
	for _, d := range used {
		total += d
	}
	res.ServerCPUs = total.Seconds()
	res.ServerCPUPct = 100 * total.Seconds() / elapsed.Seconds()
	if ops := res.CallsOK + res.Deliveries; ops > 0 {
		res.ServerCPUPerOp = float64(total.Microseconds()) / float64(ops)
	}
}

// otherPct returns what other processes used of the machine, in % of a
// core, when the server's CPU was measured; else what loadgen did not use.
func (res *phaseResult) otherPct() float64 {
	return max(res.MachineBusyPct-res.ServerCPUPct-res.LoadgenCPUPct, 0)
}

// clean reports whether the well-behaved agents lost nothing in the
// phase: every call answered, every broadcast answered and delivered
// once, no agent closed or sent an Error.
func (res *phaseResult) clean() bool {
	return res.CallFailures == 0 && res.BroadcastFailures == 0 && res.Lost == 0 && res.Duplicates == 0 &&
		res.BadStamps == 0 && res.AgentsClosed == 0 && res.UnexpectedFrames == 0 && res.ReplyFailures == 0 &&
		res.CallsOK > 0 && res.Deliveries > 0
}

// report writes the phase's results.
func (res *phaseResult) report(out io.Writer) {
	mis := "no misbehavers"
	if res.Misbehavers > 0 {
		mis = fmt.Sprintf("%d misbehavers alongside", res.Misbehavers)
	}
	fmt.Fprintf(out, "\n=== %s: %s, measured %.1f s\n", res.Name, mis, res.Seconds)
	fmt.Fprintf(out, "calls        %d due at %g/s (open loop): %d answered 200, %d failed; latency %s\n",
		res.Calls, res.callRate, res.CallsOK, res.CallFailures, res.call)
	fmt.Fprintf(out, "broadcasts   %d due at %g/s (open loop): %d answered 200, %d failed; delivery %s (send to receive)\n",
		res.Broadcasts, res.bcastRate, res.BroadcastsOK, res.BroadcastFailures, res.delay)
	fmt.Fprintf(out, "deliveries   %d of %d expected at well-behaved agents: lost %d, duplicates %d, unreadable %d\n",
		res.Deliveries, res.Expected, res.Lost, res.Duplicates, res.BadStamps)
	fmt.Fprintf(out, "agents       %d well-behaved closed; %d Error/Kicked frames to them; %d replies failed\n",
		res.AgentsClosed, res.UnexpectedFrames, res.ReplyFailures)
	switch {
	case res.meterErr != "":
		fmt.Fprintf(out, "server       not measured: %s\n", res.meterErr)
	case res.ServerCPUs > 0 || res.RSSMiB > 0:
		fmt.Fprintf(out, "server       %.1f CPU-µs/op (%.2f CPU-s over %d calls + deliveries, %.0f %% of a core); RSS %.1f MiB at the end, peak %.1f MiB\n",
			res.ServerCPUPerOp, res.ServerCPUs, res.CallsOK+res.Deliveries, res.ServerCPUPct, res.RSSMiB, res.RSSPeakMiB)
	}
	if res.metricsErr != "" {
		fmt.Fprintf(out, "node         /metrics not read: %s\n", res.metricsErr)
	} else {
		fmt.Fprintf(out, "node         kicked %s; %d frames in, %d of them refused over the rate limit; holds at the end %s\n",
			describeCounts(res.Kicks), res.FramesIn, res.RateLimited, res.Holding)
	}
	fmt.Fprintf(out, "loadgen      %.0f %% of a core\n", res.LoadgenCPUPct)
	if res.MachineBusyPct > 0 {
		fmt.Fprintf(out, "machine      %.0f %% busy of %d %% (%d cores): other processes %.0f %%\n",
			res.MachineBusyPct, 100*res.Cores, res.Cores, res.otherPct())
	}
	for _, e := range res.firstErrs {
		if e != "" {
			fmt.Fprintf(out, "first error  %s\n", e)
		}
	}
	if len(res.Misbehaviour) == 0 {
		return
	}
	fmt.Fprintf(out, "misbehaviour (what the node did to the misbehavers; a defence is the outcome that shows it held)\n")
	fmt.Fprintf(out, "  settings     %s\n", res.settings)
	for _, k := range res.Misbehaviour {
		seen := "seen"
		if len(k.Missing) > 0 {
			seen = "NOT SEEN: " + strings.Join(k.Missing, "; ")
		}
		fmt.Fprintf(out, "  %-13s %2d clients, %5d attempts (connect to close: p50 %v, max %v); defence %s\n",
			k.Kind, k.Clients, k.Attempts, roundLatency(k.took.p50), roundLatency(k.took.max), seen)
		fmt.Fprintf(out, "  %-13s does      %s\n", "", k.does)
		fmt.Fprintf(out, "  %-13s expected  %s\n", "", k.expect)
		fmt.Fprintf(out, "  %-13s got       %s\n", "", cmp.Or(k.describe, "(no outcome yet)"))
		if k.Unexpected > 0 {
			fmt.Fprintf(out, "  %-13s unexpected %d, first: %s\n", "", k.Unexpected, k.FirstUnexpected)
		}
	}
}

// kindResult is what the misbehavers of one kind met.
type kindResult struct {
	Kind            string           `json:"kind"`
	Clients         int              `json:"clients"`
	Attempts        int64            `json:"attempts"`
	Outcomes        map[string]int64 `json:"outcomes"`
	Missing         []string         `json:"defences_not_seen,omitempty"`
	Unexpected      int64            `json:"unexpected"`
	FirstUnexpected string           `json:"first_unexpected,omitempty"`
	TookP50S        float64          `json:"took_p50_s"`
	TookMaxS        float64          `json:"took_max_s"`

	took                   summary
	does, expect, describe string
}

// results adds up what the misbehavers met, by kind; kinds without
// clients are left out.
func (ms *misbehavers) results() []kindResult {
	var out []kindResult
	for i, k := range ms.stats {
		_, missing := k.defended(misbehaviours[i].defences)
		k.mu.Lock()
		r := kindResult{Kind: misbehaviours[i].name, Clients: k.clients, Attempts: k.attempts,
			Outcomes: maps.Clone(k.outcomes), Missing: missing, took: summarize([]latencies{k.lengths})}
		k.mu.Unlock()
		if r.Clients == 0 {
			continue
		}
		r.TookP50S, r.TookMaxS = r.took.p50.Seconds(), r.took.max.Seconds()
		r.does, r.expect, r.describe = misbehaviours[i].does, misbehaviours[i].expect, k.describe()
		r.Unexpected = k.unexpected.count()
		r.FirstUnexpected = errString(&k.unexpected)
		out = append(out, r)
	}
	return out
}

// noisyShare is how much more or less of the machine, in % of a core,
// other processes may use in one phase than in the other before the
// delay comparison counts as uneven.
const noisyShare = 25

// verdict is the comparison of the two phases.
type verdict struct {
	Rule string `json:"rule"`
	// The p99 of the misbehaving phase minus the baseline's, and what
	// noise allows, for calls and for broadcast deliveries.
	CallP99DeltaMS  float64 `json:"call_p99_delta_ms"`
	CallAllowedMS   float64 `json:"call_allowed_ms"`
	DelayP99DeltaMS float64 `json:"delivery_p99_delta_ms"`
	DelayAllowedMS  float64 `json:"delivery_allowed_ms"`
	NoExtraDelay    bool    `json:"no_extra_delay"`
	// Saturated holds when the machine was 90 % busy or more in either
	// phase, Uneven when other processes used the machine unevenly (by
	// more than noisyShare of a core between the phases): then the
	// phases' delays tell how CPU was shared out among the processes more
	// than anything about the node.
	Saturated bool `json:"machine_saturated"`
	Uneven    bool `json:"machine_uneven"`
	// NothingLost holds when both phases are clean (phaseResult.clean).
	NothingLost bool `json:"nothing_lost"`
	// DefencesSeen holds when every misbehaviour met its defence.
	DefencesSeen bool `json:"defences_seen"`
	// After is how the node came back once the misbehavers had left.
	After settled `json:"after"`
}

// verdict compares the phases by the run's noise rule.
func (r *soakRun) verdict(base, mis *phaseResult, after settled) verdict {
	allowed := func(baseMS float64) float64 { return max(r.noise*baseMS, ms(r.noiseMin)) }
	v := verdict{
		Rule: fmt.Sprintf("p99 within max(%g %% of the baseline's, %v) of the baseline's, for calls and for broadcast deliveries",
			100*r.noise, r.noiseMin),
		CallP99DeltaMS:  mis.CallP99MS - base.CallP99MS,
		CallAllowedMS:   allowed(base.CallP99MS),
		DelayP99DeltaMS: mis.DelayP99MS - base.DelayP99MS,
		DelayAllowedMS:  allowed(base.DelayP99MS),
		NothingLost:     base.clean() && mis.clean(),
		DefencesSeen:    true,
		After:           after,
	}
	v.NoExtraDelay = v.CallP99DeltaMS <= v.CallAllowedMS && v.DelayP99DeltaMS <= v.DelayAllowedMS
	v.Saturated = max(base.MachineBusyPct, mis.MachineBusyPct) >= 90*float64(base.Cores)
	v.Uneven = base.MachineBusyPct > 0 && mis.MachineBusyPct > 0 && math.Abs(base.otherPct()-mis.otherPct()) > noisyShare
	for _, k := range mis.Misbehaviour {
		if len(k.Missing) > 0 {
			v.DefencesSeen = false
		}
	}
	return v
}

// report writes the difference between the phases and the verdict.
func (v verdict) report(out io.Writer, base, mis *phaseResult) {
	fmt.Fprintf(out, "\n=== misbehaving − baseline (well-behaved agents only)\n")
	fmt.Fprintf(out, "call         p50 %+.2f ms, p99 %+.2f ms (%.2f → %.2f; noise allows %+.2f), max %+.1f ms\n",
		mis.CallP50MS-base.CallP50MS, v.CallP99DeltaMS, base.CallP99MS, mis.CallP99MS, v.CallAllowedMS, mis.CallMaxMS-base.CallMaxMS)
	fmt.Fprintf(out, "delivery     p50 %+.2f ms, p99 %+.2f ms (%.2f → %.2f; noise allows %+.2f), max %+.1f ms\n",
		mis.DelayP50MS-base.DelayP50MS, v.DelayP99DeltaMS, base.DelayP99MS, mis.DelayP99MS, v.DelayAllowedMS, mis.DelayMaxMS-base.DelayMaxMS)
	if base.ServerCPUs > 0 {
		fmt.Fprintf(out, "server       %.1f → %.1f CPU-µs/op, %.0f → %.0f %% of a core, RSS %.1f → %.1f MiB (peak %.1f → %.1f)\n",
			base.ServerCPUPerOp, mis.ServerCPUPerOp, base.ServerCPUPct, mis.ServerCPUPct, base.RSSMiB, mis.RSSMiB, base.RSSPeakMiB, mis.RSSPeakMiB)
	}
	switch a := v.After; {
	case a.err != "":
		fmt.Fprintf(out, "after        /metrics not read: %s\n", a.err)
	case a.Back:
		fmt.Fprintf(out, "after        the misbehavers left, the node was back to its baseline in %.1f s: %s\n", a.Seconds, a.Now)
	default:
		fmt.Fprintf(out, "after        the misbehavers left, the node was NOT back to its baseline (%s) in %.1f s: %s\n", base.Holding, a.Seconds, a.Now)
	}
	fmt.Fprintf(out, "loadgen      %.0f → %.0f %% of a core; other processes %.0f → %.0f %%\n",
		base.LoadgenCPUPct, mis.LoadgenCPUPct, base.otherPct(), mis.otherPct())
	var says []string
	if v.NoExtraDelay {
		says = append(says, "no extra delay beyond noise")
	} else {
		says = append(says, "EXTRA DELAY beyond noise")
	}
	switch {
	case v.Saturated:
		says[0] += " (but the machine was saturated, see the machine lines: delay there is mostly CPU shared with other processes)"
	case v.Uneven:
		says[0] += fmt.Sprintf(" (but other processes used %.0f %% of a core, then %.0f %%: the comparison is mostly their noise)",
			base.otherPct(), mis.otherPct())
	}
	if v.NothingLost {
		says = append(says, "nothing lost, no well-behaved agent closed")
	} else {
		says = append(says, "WELL-BEHAVED AGENTS LOST MESSAGES, FAILED CALLS OR WERE CLOSED")
	}
	if v.DefencesSeen {
		says = append(says, "every misbehaviour met its defence")
	} else {
		says = append(says, "some misbehaviour did not meet its defence (see above)")
	}
	if v.After.Back {
		says = append(says, "the node gave back what the misbehavers took")
	} else if v.After.err == "" {
		says = append(says, "THE NODE DID NOT GIVE BACK WHAT THE MISBEHAVERS TOOK")
	}
	fmt.Fprintf(out, "verdict      %s (rule: %s)\n", strings.Join(says, "; "), v.Rule)
}

// soakResult is a soak run's outcome in one JSON line.
type soakResult struct {
	Mode        string         `json:"mode"`
	Agents      int            `json:"agents"`
	Misbehavers int            `json:"misbehavers"`
	Phases      []*phaseResult `json:"phases"`
	Verdict     verdict        `json:"verdict"`
}

func (r soakResult) write(out io.Writer) {
	b, _ := json.Marshal(r)
	fmt.Fprintf(out, "json         %s\n", b)
}
