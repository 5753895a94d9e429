package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is Linux's USER_HZ, the unit of the CPU times in
// /proc/PID/stat (100 on every architecture Go supports).
const clockTicksPerSecond = 100

// serverMeter measures the CPU time the server's processes (-pid: nodes,
// redis-server) use over the measured span of a run, so that a run can
// report server CPU-µs per operation: the figure that stays put when the
// machine is faster or slower on another day.
type serverMeter struct {
	pids  []int
	start []time.Duration
}

// register defines -pid on fs.
func (m *serverMeter) register(fs *flag.FlagSet) {
	fs.Func("pid", "comma-separated PIDs of the server's processes (nodes, redis-server) whose CPU time is reported per operation", func(s string) error {
		m.pids = nil
		for _, f := range strings.Split(s, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return fmt.Errorf("%q is not a PID", f)
			}
			m.pids = append(m.pids, pid)
		}
		return nil
	})
}

// begin starts the measured span.
func (m *serverMeter) begin() error {
	m.start = make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		cpu, err := processCPUOf(pid)
		if err != nil {
			return err
		}
		m.start[i] = cpu
	}
	return nil
}

// end closes the measured span and returns the CPU time each process used
// in it; none without -pid.
func (m *serverMeter) end() ([]time.Duration, error) {
	used := make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		cpu, err := processCPUOf(pid)
		if err != nil {
			return nil, err
		}
		used[i] = cpu - m.start[i]
	}
	return used, nil
}

// processCPUOf reads the user and system CPU time process pid has used.
func processCPUOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("-pid %d: %w", pid, err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime, fields 14 and 15, from the text of
// /proc/PID/stat. The command name (field 2) may hold spaces, so fields
// are counted after its closing parenthesis.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	fields := strings.Fields(stat[i+1:])
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %.80q", stat)
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields 14 and 15 of the whole line
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/PID/stat: %.80q", stat)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// result is a run's outcome in one JSON line, for scripts: the operations
// measured, their rate, the latency that matters for the mode, what was
// lost or came twice, and the server's CPU per operation when -pid was
// given.
type result struct {
	Mode       string  `json:"mode"`
	Ops        int64   `json:"ops"`
	PerSecond  float64 `json:"per_second"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	Lost       int64   `json:"lost"`
	Duplicates int64   `json:"duplicates"`
	Failed     int64   `json:"failed"`
	ServerCPUs float64 `json:"server_cpu_s,omitempty"`
	// ServerCPUPerOp is server CPU-µs per operation, summed over -pid.
	ServerCPUPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	// AgentsClosed counts agents the server closed during the run.
	AgentsClosed int64 `json:"agents_closed"`
}

// write prints the server CPU line, when measured, and the JSON line.
func (r result) write(out io.Writer, serverCPU []time.Duration) {
	if len(serverCPU) > 0 {
		var total time.Duration
		parts := make([]string, len(serverCPU))
		for i, d := range serverCPU {
			total += d
			parts[i] = fmt.Sprintf("%.2fs", d.Seconds())
		}
		r.ServerCPUs = total.Seconds()
		if r.Ops > 0 {
			r.ServerCPUPerOp = float64(total.Microseconds()) / float64(r.Ops)
		}
		fmt.Fprintf(out, "server cpu   %.1f CPU-µs/op (%.2f CPU-s over %d ops; by -pid: %s)\n",
			r.ServerCPUPerOp, total.Seconds(), r.Ops, strings.Join(parts, ", "))
	}
	b, _ := json.Marshal(r)
	fmt.Fprintf(out, "json         %s\n", b)
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
