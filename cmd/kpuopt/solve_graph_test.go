package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSolveGraphJSON(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "sched.json")
	out, errs, code := runGraph(t, "solve-graph", graphData+"/mlp.json", "--config", "edge_ai", "--seed=", "--format", "json", "-o", outFile)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Optimal, Layerwise struct {
			Mode      string `json:"mode"`
			Status    string `json:"status"`
			Predicted struct {
				Latency int64 `json:"latency_cycles"`
				DRAM    int64 `json:"dram_bytes"`
			} `json:"predicted"`
			Bound struct {
				Latency int64 `json:"latency_cycles"`
			} `json:"lower_bound"`
			Ops []struct {
				Name     string   `json:"name"`
				FusedOps []string `json:"fused_ops"`
			} `json:"ops"`
		}
		LatencyRatio float64 `json:"latency_ratio"`
		DRAMRatio    float64 `json:"dram_ratio"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if rep.Optimal.Mode != "optimal" || rep.Layerwise.Mode != "layerwise" || rep.Optimal.Status != "optimal" {
		t.Errorf("modes %q/%q, status %q", rep.Optimal.Mode, rep.Layerwise.Mode, rep.Optimal.Status)
	}
	if rep.LatencyRatio < 1 || rep.DRAMRatio < 1 {
		t.Errorf("layerwise/joint ratios %.3f, %.3f: the joint schedule must not be worse", rep.LatencyRatio, rep.DRAMRatio)
	}
	if len(rep.Layerwise.Ops) != 6 {
		t.Errorf("layerwise has %d entries, want one per operator (6)", len(rep.Layerwise.Ops))
	}
	var fused []string
	for _, op := range rep.Optimal.Ops {
		fused = append(fused, op.FusedOps...)
	}
	if diff := cmp.Diff([]string{"relu1", "relu2"}, fused); diff != "" {
		t.Errorf("fused operators (-want +got):\n%s", diff)
	}
	if rep.Optimal.Predicted.Latency < rep.Optimal.Bound.Latency {
		t.Errorf("predicted %d below the bound %d", rep.Optimal.Predicted.Latency, rep.Optimal.Bound.Latency)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != out {
		t.Errorf("-o file differs from stdout")
	}
}

func TestSolveGraphTable(t *testing.T) {
	out, errs, code := runGraph(t, "solve-graph", graphData+"/resnet_block.json", "--config", "datacenter", "--seed=", "--mode", "optimal")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"mode optimal", "conv1", "relu1", "lower bound", "resident tensors:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "layerwise / joint") {
		t.Errorf("--mode optimal printed the comparison")
	}
}

func TestSolveGraphErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad mode", []string{"solve-graph", graphData + "/mlp.json", "--mode", "joint"}, exitBadInput, `--mode "joint"`},
		{"bad engine", []string{"solve-graph", graphData + "/mlp.json", "--engine", "ilp"}, exitBadInput, `--engine "ilp"`},
		{"bad objective", []string{"solve-graph", graphData + "/mlp.json", "--objective", "speed"}, exitBadInput, "unknown objective"},
		{"bad format", []string{"solve-graph", graphData + "/mlp.json", "--format", "xml"}, exitBadInput, "--format"},
		{"missing graph", []string{"solve-graph", graphData + "/no_such.json"}, exitBadInput, "no_such.json"},
		{"bad config", []string{"solve-graph", graphData + "/mlp.json", "--config", "nosuch"}, exitBadInput, "nosuch"},
		{"bad seed engine", []string{"solve-graph", graphData + "/mlp.json", "--seed", "magic"}, exitBadInput, "magic"},
		{"no args", []string{"solve-graph"}, exitBadInput, "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runGraph(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, out, errs)
			}
			if !strings.Contains(errs, tt.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr %q: want one line containing %q", errs, tt.msg)
			}
		})
	}
}

// TestSolveGraphSimulate: a schedule without resident tensors lowers to one
// program whose simulated figures equal the prediction.
func TestSolveGraphSimulate(t *testing.T) {
	out, errs, code := runGraph(t, "solve-graph", graphData+"/mlp.json", "--config", "edge_ai", "--seed=", "--no-residency", "--simulate", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// The report, with and without resident tensors.
	type simReport struct {
		Optimal struct {
			Predicted struct {
				Latency int64 `json:"latency_cycles"`
				DRAM    int64 `json:"dram_bytes"`
			} `json:"predicted"`
			Resident []json.RawMessage `json:"resident"`
			Ops      []struct {
				Predicted struct {
					Latency int64 `json:"latency_cycles"`
				} `json:"predicted"`
			} `json:"ops"`
		} `json:"optimal"`
		Simulated map[string]struct {
			Latency    int64   `json:"latency_cycles"`
			DRAM       int64   `json:"dram_bytes"`
			Functional bool    `json:"functional"`
			Verified   bool    `json:"verified"`
			Spans      []int64 `json:"op_span_cycles"`
		} `json:"simulated"`
	}
	var rep simReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	sim, ok := rep.Simulated["optimal"]
	if !ok || len(rep.Simulated) != 2 {
		t.Fatalf("simulated %+v: want both modes", rep.Simulated)
	}
	if len(rep.Optimal.Resident) != 0 {
		t.Errorf("--no-residency kept %d tensors resident", len(rep.Optimal.Resident))
	}
	if !sim.Functional || !sim.Verified {
		t.Errorf("joint schedule: numerics checked %v, verified %v", sim.Functional, sim.Verified)
	}
	if len(sim.Spans) != len(rep.Optimal.Ops) {
		t.Errorf("%d simulated spans for %d entries", len(sim.Spans), len(rep.Optimal.Ops))
	}
	for i, op := range rep.Optimal.Ops {
		if i < len(sim.Spans) && sim.Spans[i] != op.Predicted.Latency {
			t.Errorf("entry %d: simulated span %d, predicted %d cycles", i, sim.Spans[i], op.Predicted.Latency)
		}
	}
	if sim.Latency != rep.Optimal.Predicted.Latency || sim.DRAM != rep.Optimal.Predicted.DRAM {
		t.Errorf("simulated %d cycles, %d B; predicted %d cycles, %d B", sim.Latency, sim.DRAM, rep.Optimal.Predicted.Latency, rep.Optimal.Predicted.DRAM)
	}
	// a schedule with resident tensors is lowered with them in L3 too
	out, errs, code = runGraph(t, "solve-graph", graphData+"/mlp.json", "--config", "edge_ai", "--seed=", "--mode", "optimal", "--simulate", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res simReport
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	rs, ok := res.Simulated["optimal"]
	if len(res.Optimal.Resident) == 0 || !ok || rs.Latency != res.Optimal.Predicted.Latency || rs.DRAM != res.Optimal.Predicted.DRAM {
		t.Errorf("%d resident; simulated %+v (present %v), predicted %+v", len(res.Optimal.Resident), rs, ok, res.Optimal.Predicted)
	}
}

// solveSeconds matches the solve time in a schedule's header line.
var solveSeconds = regexp.MustCompile(`, [0-9]+\.[0-9]+ s\n`)

// TestSolveGraphGolden: the table of a small graph, both modes, without
// seeds (deterministic); the solve times are masked.
func TestSolveGraphGolden(t *testing.T) {
	out, errs, code := runGraph(t, "solve-graph", graphData+"/resnet_block.json", "--config", "embodied_ai", "--seed=")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	checkGolden(t, "solve_graph_resnet_block.txt", []byte(solveSeconds.ReplaceAllString(out, ", (time) s\n")))
}
