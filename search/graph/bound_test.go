package graph

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestGroupBoundsHold: every group's bound is at most the exact predicted
// latency (the simulator's, docs/graph-optimization.md §2) of the entries
// covering it, and its DRAM bound at most their DRAM bytes, over the shipped
// graphs, every preset and the joint, all-DRAM joint and layerwise
// schedules; the strengthened bound is never below the former one (the
// larger of the compute and DMA bounds).
func TestGroupBoundsHold(t *testing.T) {
	presets := []string{"minimal", "edge_ai", "embodied_ai", "datacenter"}
	all := []string{"minimal", "edge_ai", "embodied_ai", "datacenter", testdata + "/configs/tiny.json", testdata + "/configs/two_tile.yaml"}
	cases := []struct {
		graph    string
		machines []string
	}{
		{"mlp.json", all},
		{"resnet_block.json", presets},
		{"transformer_encoder.json", presets},
		{"matmul_fp16.json", all},
		{"matmul_int8.json", all},
		{"../cmd/kpuopt/testdata/solve/tiny.json", all},
	}
	variants := []struct {
		name string
		opts Options
	}{
		{"joint", Options{Mode: ModeOptimal}},
		{"joint-dram", Options{Mode: ModeOptimal, NoResidency: true}},
		{"layerwise", Options{Mode: ModeLayerwise}},
	}
	for _, tc := range cases {
		file := tc.graph
		g := load(t, file)
		pr, err := NewProblem(g)
		if err != nil {
			t.Fatal(err)
		}
		stepOf := map[string]int{}
		for i, st := range pr.Steps {
			stepOf[st.Op.Name] = i
		}
		for _, mach := range tc.machines {
			cfg, _, err := kpu.Resolve(mach)
			if err != nil {
				t.Fatal(err)
			}
			groups := pr.groupBounds(cfg)
			groupOf := make([]int, len(pr.Steps))
			for gi, gb := range groups {
				for i := gb.From; i < gb.To; i++ {
					groupOf[i] = gi
				}
			}
			for _, v := range variants {
				opts := v.opts
				opts.Candidates, opts.Seeds = small, []string{"greedy"}
				s, err := Solve(context.Background(), g, cfg, opts)
				if constraints.IsInfeasible(err) {
					continue // no schedule to bound
				}
				if err != nil {
					t.Fatalf("%s %s %s: %v", file, mach, v.name, err)
				}
				got := make([]Figures, len(groups))
				for _, op := range s.Ops {
					gi := groupOf[stepOf[op.Name]]
					got[gi] = got[gi].add(Figures{Cycles: op.Predicted.LatencyCycles, DRAM: op.Predicted.DRAMBytes})
				}
				for gi, gb := range groups {
					if gb.Cycles > got[gi].Cycles || gb.DRAM > got[gi].DRAM {
						t.Errorf("%s %s %s: steps %d-%d (%s): bound %d cycles %d B above the schedule's %d cycles %d B",
							file, mach, v.name, gb.From, gb.To-1, pr.Steps[gb.From].Op.Name, gb.Cycles, gb.DRAM, got[gi].Cycles, got[gi].DRAM)
					}
				}
				if s.Bound.LatencyCycles > s.Predicted.LatencyCycles {
					t.Errorf("%s %s %s: bound %d above predicted %d", file, mach, v.name, s.Bound.LatencyCycles, s.Predicted.LatencyCycles)
				}
			}
		}
	}
}

// TestFabricGrainBound checks the pass-by-pass fabric bound on hand-worked
// cases (datacenter: 32 x 32 arrays, fill and drain 64 cycles per matmul,
// L3 latency 20, L1 latency 1).
func TestFabricGrainBound(t *testing.T) {
	cfg, err := kpu.Preset("datacenter")
	if err != nil {
		t.Fatal(err)
	}
	// a K split's reduction chain: 2 moves (20 + 1) and an add (1 + 1) per
	// later part
	tests := []struct {
		name           string
		batch, m, n, k int64
		want           int64
	}{
		// 4 x 24 output blocks over 96 tiles, K halved: 384 cycles of
		// passes, fill 64, one reduction 44
		{"q_proj", 1, 128, 768, 768, 384 + 64 + 44},
		// 12 products of 4 x 4 blocks over 16 tiles, K = 64 in 4 parts:
		// 12 x (16 + 64) and 3 reductions
		{"attention scores", 12, 128, 128, 64, 12*(16+64) + 3*44},
		// one block, K = 512 in 3 parts: 171 + 64 + 2 x 44
		{"tiny", 1, 8, 8, 512, 171 + 64 + 2*44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemOf(tt.batch, tt.m, tt.n, tt.k)
			if got := fabricGrainBound(p, cfg); got != tt.want {
				t.Errorf("fabricGrainBound = %d, want %d", got, tt.want)
			}
		})
	}
}

func problemOf(batch, m, n, k int64) constraints.Problem {
	return constraints.Problem{Name: "p", Batch: batch, M: m, N: n, K: k, DType: model.Float32}
}
