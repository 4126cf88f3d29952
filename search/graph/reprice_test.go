package graph

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/model"
)

// TestResidencyPricedExactly: a joint schedule keeps only tensors that fit
// one L3 tile, in homes inside one tile; its figures are the exact step
// costs with those homes (repricing it changes nothing) and it is never
// worse than the joint schedule with every tensor through DRAM.
func TestResidencyPricedExactly(t *testing.T) {
	tests := []struct {
		file, config string
		resident     bool // the joint schedule keeps some tensor in L3
	}{
		{"mlp.json", "datacenter", true},
		{"transformer_encoder.json", "datacenter", true},
		{"resnet_block.json", "datacenter", false}, // 784 KiB tensors, 512 KiB L3 tiles
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.config, func(t *testing.T) {
			ctx := context.Background()
			g, cfg := load(t, tc.file), preset(t, tc.config)
			opts := Options{Candidates: small, Seeds: []string{}, Cache: &Cache{}}
			s, err := Solve(ctx, g, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(s.Resident) > 0; got != tc.resident {
				t.Fatalf("resident tensors %d, want some: %v", len(s.Resident), tc.resident)
			}
			tb := cfg.L3TileBytes
			for _, r := range s.Resident {
				if r.Bytes > tb || r.L3Offset/tb != (r.L3Offset+r.Bytes-1)/tb {
					t.Errorf("resident %s: [%d, +%d) not inside one L3 tile of %d B", r.Tensor, r.L3Offset, r.Bytes, tb)
				}
			}
			var sum model.Figures
			for _, op := range s.Ops {
				sum.LatencyCycles += op.Predicted.LatencyCycles
				sum.DRAMBytes += op.Predicted.DRAMBytes
			}
			if sum.LatencyCycles != s.Predicted.LatencyCycles || sum.DRAMBytes != s.Predicted.DRAMBytes {
				t.Errorf("steps sum to %+v, total %+v", sum, s.Predicted)
			}
			again := *s
			again.Ops = append([]model.ScheduledOp(nil), s.Ops...)
			if err := reprice(ctx, g, &again, cfg); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(s.Predicted, again.Predicted); d != "" {
				t.Errorf("exact price differs from the search's (-search +exact):\n%s", d)
			}
			opts.NoResidency = true
			dram, err := Solve(ctx, g, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Predicted.LatencyCycles > dram.Predicted.LatencyCycles {
				t.Errorf("joint latency %d worse than with every tensor in DRAM %d", s.Predicted.LatencyCycles, dram.Predicted.LatencyCycles)
			}
		})
	}
}

// TestMarksHomes: a step that would move a tensor with an L3 home through
// DRAM is rejected; fused intermediates and marked operands pass.
func TestMarksHomes(t *testing.T) {
	mm := &model.Operator{Name: "mm", Type: model.OpMatMul, Inputs: []string{"a", "b"}, Outputs: []string{"c"}}
	add := &model.Operator{Name: "add", Type: model.OpAdd, Inputs: []string{"c", "r"}, Outputs: []string{"d"}}
	byName := map[string]*model.Operator{"mm": mm, "add": add}
	tests := []struct {
		name string
		st   model.ScheduledOp
		home []string
		ok   bool
	}{
		{"nothing resident", model.ScheduledOp{Name: "mm"}, nil, true},
		{"A resident and marked", model.ScheduledOp{Name: "mm", ResidentA: true}, []string{"a"}, true},
		{"A resident, unmarked", model.ScheduledOp{Name: "mm"}, []string{"a"}, false},
		{"fused intermediate", model.ScheduledOp{Name: "mm", FusedOps: []string{"add"}, Output: "d", ResidentC: true}, []string{"c", "d"}, true},
		{"fused op's other input resident", model.ScheduledOp{Name: "mm", FusedOps: []string{"add"}, Output: "d"}, []string{"r"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := map[string]int64{}
			for i, n := range tc.home {
				home[n] = int64(i) * 4096
			}
			err := marksHomes(mm, &tc.st, byName, home)
			if (err == nil) != tc.ok {
				t.Errorf("marksHomes: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
