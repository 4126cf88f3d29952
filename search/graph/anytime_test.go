package graph

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestSolveStopped: a solve whose context is already done (Ctrl-C before it
// started) still returns a complete schedule with status feasible: every
// GEMM-like operator has a mapping, no tensor is resident, and the total is
// the sum of the entries' exact DRAM-only prices.
func TestSolveStopped(t *testing.T) {
	tests := []struct {
		graph, machine string
		mode           string
	}{
		{"mlp.json", "edge_ai", ModeOptimal},
		{"transformer_encoder.json", "datacenter", ModeOptimal},
		{"resnet_block.json", "minimal", ModeLayerwise},
	}
	for _, tt := range tests {
		t.Run(tt.graph+"/"+tt.machine, func(t *testing.T) {
			g, cfg := load(t, tt.graph), preset(t, tt.machine)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s, err := Solve(ctx, g, cfg, Options{Mode: tt.mode, Candidates: small})
			if err != nil {
				t.Fatalf("a stopped solve must return a schedule: %v", err)
			}
			if s.Status != "feasible" || len(s.Resident) != 0 {
				t.Errorf("status %q with %d resident tensors, want feasible and none", s.Status, len(s.Resident))
			}
			var sum model.Figures
			mapped := map[string]bool{}
			for _, op := range s.Ops {
				sum.LatencyCycles += op.Predicted.LatencyCycles
				sum.DRAMBytes += op.Predicted.DRAMBytes
				mapped[op.Name] = op.Mapping != nil
			}
			if sum.LatencyCycles != s.Predicted.LatencyCycles || sum.DRAMBytes != s.Predicted.DRAMBytes {
				t.Errorf("total %+v, sum of entries %+v", s.Predicted, sum)
			}
			for _, op := range g.Operators {
				if op.Type.IsGEMMLike() && !mapped[op.Name] {
					t.Errorf("GEMM-like operator %s has no mapping", op.Name)
				}
			}
			byName := map[string]*model.Operator{}
			for _, op := range g.Operators {
				byName[op.Name] = op
			}
			for _, op := range s.Ops {
				if op.Mapping == nil || len(op.FusedOps) > 0 {
					continue
				}
				gop := byName[op.Name]
				c, err := constraints.OperatorCost(context.Background(), g, gop, op.Mapping, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if c.LatencyCycles != op.Predicted.LatencyCycles || c.DRAMBytes != op.Predicted.DRAMBytes {
					t.Errorf("%s: predicted %+v, exact %d cycles %d B", op.Name, op.Predicted, c.LatencyCycles, c.DRAMBytes)
				}
			}
			if s.Gap <= 0 || s.Gap >= 1 {
				t.Errorf("gap %.4f, want in (0, 1)", s.Gap)
			}
		})
	}
}
