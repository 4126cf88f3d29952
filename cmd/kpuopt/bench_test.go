package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stepClock returns a clock that advances by step at every reading.
func stepClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

// withBenchClock fixes the clock of `bench` for one test.
func withBenchClock(t *testing.T) {
	t.Helper()
	old := benchClock
	benchClock = stepClock(time.Millisecond)
	t.Cleanup(func() { benchClock = old })
}

func TestBenchGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"bench/minimal_small.txt", []string{"bench", "--configs", "minimal", "--shapes", "7x5x12,16x8x3"}},
		{"bench/minimal_small.csv", []string{"bench", "--configs", "minimal", "--shapes", "7x5x12,16x8x3", "--format", "csv"}},
		{"bench/minimal_small_traffic.txt", []string{"bench", "--configs", "minimal", "--shapes", "7x5x12", "--objective", "traffic"}},
		{"bench/graphs_tiny.txt", []string{"bench", "--graphs", "testdata/solve/tiny.json", "--configs", "minimal,edge_ai"}},
		{"bench/graphs_tiny.csv", []string{"bench", "--graphs", "testdata/solve/tiny.json", "--configs", "minimal", "--format", "csv", "--objective", "traffic"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			withBenchClock(t)
			out, errs, code := runConfigs(t, tt.args...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			checkGolden(t, tt.golden, []byte(out))
		})
	}
}

func TestBenchJSONToFile(t *testing.T) {
	withBenchClock(t)
	path := filepath.Join(t.TempDir(), "bench.json")
	out, errs, code := runConfigs(t, "bench", "--configs", "minimal,edge_ai", "--shapes", "7x5x12", "--format", "json", "-o", path)
	if code != exitOK || errs != "" || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Suite string `json:"suite"`
		Rows  []struct {
			Config string  `json:"config"`
			Status string  `json:"status"`
			Ratio  float64 `json:"optimal_over_bound"`
			KPUSim struct {
				Ratio float64 `json:"ratio"`
			} `json:"kpusim"`
		} `json:"rows"`
		Summary struct {
			Cases  int `json:"cases"`
			Proven int `json:"proven"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Suite != "custom" || len(rep.Rows) != 2 || rep.Rows[0].Config != "minimal" || rep.Rows[1].Config != "edge_ai" || rep.Summary.Cases != 2 || rep.Summary.Proven != 2 {
		t.Fatalf("report: %s", data)
	}
	for _, r := range rep.Rows {
		if r.Ratio < 1 || r.KPUSim.Ratio < 1 {
			t.Errorf("row %+v: want optimal/bound >= 1 and kpusim/optimal >= 1", r)
		}
	}
}

func TestBenchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"bench", "--configs", "minimal", "--shapes", "7x5x12"}, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != exitFailed || !strings.Contains(errb.String(), "context canceled") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want exit 1 naming the cancellation", code, errb.String())
	}
}

func TestBenchErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"bad format", []string{"bench", "--format", "xml"}, "--format"},
		{"bad suite", []string{"bench", "--suite", "nope"}, `unknown suite "nope"`},
		{"bad shape", []string{"bench", "--shapes", "7x5"}, "want MxNxK"},
		{"zero dim", []string{"bench", "--shapes", "7x0x5"}, `dimension "0"`},
		{"bad objective", []string{"bench", "--objective", "speed"}, "unknown objective"},
		{"bad time limit", []string{"bench", "--time-limit", "0s"}, "--time-limit"},
		{"unknown machine", []string{"bench", "--configs", "nosuchmachine", "--shapes", "7x5x12"}, "nosuchmachine"},
		{"positional", []string{"bench", "extra"}, "unknown command"},
		{"shapes with graphs", []string{"bench", "--graphs", "testdata/solve/tiny.json", "--shapes", "7x5x12"}, "--shapes is for GEMM suites"},
		{"missing graph", []string{"bench", "--graphs", "testdata/nope.json"}, "nope.json"},
		// the graphs suite reads the repository's testdata/, not this directory's
		{"graphs suite outside the root", []string{"bench", "--suite", "graphs"}, "run from the repository root or give --graphs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := runConfigs(t, tt.args...)
			if code != exitBadInput || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tt.msg) {
				t.Errorf("exit %d, stderr %q: want exit %d and one line containing %q", code, errs, exitBadInput, tt.msg)
			}
		})
	}
}
