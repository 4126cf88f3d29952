package main

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSolveVerifyNarrowOutputs: GEMMs whose output is narrower than the
// accumulator (float16, int8) verify with the prediction equal to the
// simulation, since the stream the cost model replays carries the
// conversion and the narrow final moves and stores.
func TestSolveVerifyNarrowOutputs(t *testing.T) {
	tests := []struct {
		graph, config, search string
		dramBytes             float64 // compulsory: A, B read once, C written once in its own dtype
	}{
		{"../../testdata/matmul_fp16.json", "edge_ai", "greedy", 96*200*2 + 200*80*2 + 96*80*2},
		{"../../testdata/matmul_fp16.json", "minimal", "kpusim", 0},
		{"../../testdata/matmul_int8.json", "datacenter", "kpusim", 2*72*150 + 2*150*56 + 2*72*56},
		{"../../testdata/matmul_int8.json", "minimal", "greedy", 2*72*150 + 2*150*56 + 2*72*56},
	}
	for _, tc := range tests {
		t.Run(tc.graph[len("../../testdata/"):]+"_"+tc.config+"_"+tc.search, func(t *testing.T) {
			out, errs, code := runConfigs(t, "solve", tc.graph, "--config", tc.config, "--search", tc.search, "--verify", "--format", "json")
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q, stdout %s", code, errs, out)
			}
			var rep struct {
				Predicted  map[string]float64 `json:"predicted"`
				Simulated  map[string]float64 `json:"simulated"`
				LowerBound map[string]float64 `json:"lower_bound"`
				Verified   bool               `json:"verified"`
				Functional bool               `json:"functional"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if !rep.Verified || !rep.Functional {
				t.Fatalf("verified %v functional %v: %s", rep.Verified, rep.Functional, out)
			}
			if diff := cmp.Diff(rep.Predicted, rep.Simulated); diff != "" {
				t.Errorf("predicted != simulated (-predicted +simulated):\n%s", diff)
			}
			if tc.dramBytes > 0 && (rep.Simulated["dram_bytes"] != tc.dramBytes || rep.LowerBound["dram_bytes"] != tc.dramBytes) {
				t.Errorf("dram bytes simulated %v, bound %v, want %v", rep.Simulated["dram_bytes"], rep.LowerBound["dram_bytes"], tc.dramBytes)
			}
		})
	}
}
