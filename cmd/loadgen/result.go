package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is Linux's USER_HZ, the unit of the CPU times in
// /proc/PID/stat (100 on every architecture Go supports).
const clockTicksPerSecond = 100

// meter measures a run's measured span, which holds no dialing or
// closing: the CPU time the server's processes (-pid: nodes, redis-server)
// use in it, so that a run can report server CPU-µs per operation (the
// figure that stays put when the machine is faster or slower on another
// day); loadgen's own CPU time, logged as cpu_s on the "measuring" and
// "measured" lines that bound the span; and, with -cpuprofile, loadgen's
// CPU profile over the span.
type meter struct {
	pids  []int
	start []time.Duration
	// profile is the -cpuprofile file's name; out is that file while the
	// profile runs.
	profile string
	out     *os.File
}

// register defines -pid and -cpuprofile on fs.
func (m *meter) register(fs *flag.FlagSet) {
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
	fs.StringVar(&m.profile, "cpuprofile", "", "write loadgen's own CPU profile over the measured span (soak: its last phase's) to `file` (go tool pprof)")
}

// begin starts the measured span: it logs "measuring" with attrs and
// loadgen's CPU time so far, reads the server's, and starts the profile.
// Once it returns nil, end must follow; an end after a failed begin only
// logs and says so.
func (m *meter) begin(log *slog.Logger, attrs ...any) error {
	log.Info("measuring", append([]any{"cpu_s", processCPU().Seconds()}, attrs...)...)
	m.start = nil
	start := make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		cpu, err := processCPUOf(pid)
		if err != nil {
			return err
		}
		start[i] = cpu
	}
	if m.profile != "" {
		f, err := os.Create(m.profile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		m.out = f
	}
	m.start = start
	return nil
}

// end closes the measured span: it logs "measured" with attrs and
// loadgen's CPU time so far, writes the profile and returns the CPU time
// each server process used in the span; none without -pid, and an error
// when begin failed.
func (m *meter) end(log *slog.Logger, attrs ...any) ([]time.Duration, error) {
	log.Info("measured", append([]any{"cpu_s", processCPU().Seconds()}, attrs...)...)
	if m.start == nil {
		return nil, errors.New("the measured span did not begin")
	}
	var errs []error
	if m.out != nil {
		pprof.StopCPUProfile()
		if err := m.out.Close(); err != nil {
			errs = append(errs, fmt.Errorf("-cpuprofile: %w", err))
		}
		m.out = nil
	}
	used := make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		cpu, err := processCPUOf(pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		used[i] = cpu - m.start[i]
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
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
