package main

import (
	"testing"
	"time"
)

func TestBroadcastInterval(t *testing.T) {
	tests := []struct {
		name   string
		perSec float64
		every  time.Duration
		want   time.Duration // 0: an error is wanted
	}{
		{"closed loop", 0, 250 * time.Millisecond, 250 * time.Millisecond},
		{"open loop", 10, 250 * time.Millisecond, 100 * time.Millisecond},
		{"open loop ignores -every", 4, 0, 250 * time.Millisecond},
		{"fractional rate", 0.5, 0, 2 * time.Second},
		{"negative rate", -1, 100 * time.Millisecond, 0},
		{"absurd rate", 1e9, 100 * time.Millisecond, 0},
		{"closed loop without a period", 0, 0, 0},
	}
	for _, tt := range tests {
		r := &broadcastRun{n: 1, rate: 1, dur: time.Second, perSec: tt.perSec, every: tt.every}
		got, err := r.interval()
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("%s: interval = %v, want an error", tt.name, got)
		case tt.want != 0 && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case got != tt.want:
			t.Errorf("%s: interval = %v, want %v", tt.name, got, tt.want)
		}
	}
}
