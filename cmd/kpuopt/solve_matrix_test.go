package main

import (
	"encoding/json"
	"math"
	"testing"
)

// TestSolveVerifyMatrix: the joint schedule of every test graph on every
// preset lowers and verifies, its predicted latency within the verifier's 3%
// of the simulated one (the residency prices are the lowering's exact
// costs). Numerics are checked for the small graphs; the large ones are
// timing-only to keep the suite fast.
func TestSolveVerifyMatrix(t *testing.T) {
	graphs := []string{"mlp", "resnet_block", "transformer_encoder", "bert_layer"}
	configs := []string{"minimal", "edge_ai", "datacenter"}
	for _, g := range graphs {
		for _, c := range configs {
			t.Run(g+"/"+c, func(t *testing.T) {
				out, errs, code := runConfigs(t, "solve", "../../testdata/"+g+".json", "--config", c, "--verify",
					"--time-limit", "6s", "--functional-limit", "20000000", "--format", "json")
				if code != exitOK {
					t.Fatalf("exit %d, stderr %q", code, errs)
				}
				var rep struct {
					Predicted struct {
						LatencyCycles int64 `json:"latency_cycles"`
					} `json:"predicted"`
					Simulated struct {
						LatencyCycles int64 `json:"latency_cycles"`
					} `json:"simulated"`
					Verified *bool `json:"verified"`
				}
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("decode report: %v", err)
				}
				if rep.Verified == nil || !*rep.Verified {
					t.Fatalf("not verified: %s", out)
				}
				p, s := float64(rep.Predicted.LatencyCycles), float64(rep.Simulated.LatencyCycles)
				if s <= 0 || math.Abs(p-s)/s > 0.03 {
					t.Errorf("predicted latency %v, simulated %v: more than 3%% apart", p, s)
				}
			})
		}
	}
}
