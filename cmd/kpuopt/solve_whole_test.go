package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestSolveWholeTimeLimit: a whole-graph solve that runs out of time still
// reports a complete schedule (exit 0, status feasible, a gap), and the
// schedule it reports is the one the simulator runs; the exhaustive engine
// honours the time limit over the whole graph.
func TestSolveWholeTimeLimit(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		limit      time.Duration
		wantStatus string
	}{
		{"joint stopped at once", []string{"--time-limit", "1ms", "--verify", "--functional-limit", "-1"}, time.Millisecond, "feasible"},
		{"exhaustive per operator", []string{"--search", "exhaustive", "--time-limit", "2s"}, 2 * time.Second, "feasible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"solve", graphData + "/bert_layer.json", "--config", "datacenter", "--format", "json"}, tt.args...)
			start := time.Now()
			out, errs, code := runGraph(t, args...)
			took := time.Since(start)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var rep struct {
				Status    string  `json:"status"`
				Seconds   float64 `json:"solve_seconds"`
				Gap       float64 `json:"gap"`
				Predicted struct {
					Latency int64 `json:"latency_cycles"`
				} `json:"predicted"`
				Bound struct {
					Latency int64 `json:"latency_cycles"`
				} `json:"lower_bound"`
				Ops []struct {
					Name    string          `json:"name"`
					Mapping json.RawMessage `json:"mapping"`
				} `json:"ops"`
				Simulated *struct {
					Latency int64 `json:"latency_cycles"`
				} `json:"simulated"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if rep.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", rep.Status, tt.wantStatus)
			}
			if rep.Gap <= 0 || rep.Gap >= 1 || rep.Predicted.Latency < rep.Bound.Latency {
				t.Errorf("gap %.4f, predicted %d, bound %d: want 0 < gap < 1 and predicted >= bound", rep.Gap, rep.Predicted.Latency, rep.Bound.Latency)
			}
			if len(rep.Ops) < 20 {
				t.Errorf("%d operators in the schedule, want every one of the layer's", len(rep.Ops))
			}
			if rep.Simulated != nil && rep.Simulated.Latency != rep.Predicted.Latency {
				t.Errorf("simulated %d cycles, predicted %d", rep.Simulated.Latency, rep.Predicted.Latency)
			}
			// the solve (the verification after it excluded) within the
			// limit plus 10 %, and a second for the exact pricing of what
			// was found and a loaded machine
			solve := time.Duration(rep.Seconds * float64(time.Second))
			if max := tt.limit + tt.limit/10 + time.Second; solve > max || solve > took {
				t.Errorf("solved in %v (%v in all) with --time-limit %v (want at most %v)", solve, took, tt.limit, max)
			}
		})
	}
}
