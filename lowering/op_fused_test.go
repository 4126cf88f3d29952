package lowering

import (
	"context"
	"math"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/verify"
)

// fusedGraphs are a GEMM-like operator (the first) followed by a chain that
// fuses into its drain.
func fusedGraphs(t testing.TB) []*model.Graph {
	var gs []*model.Graph
	b := &graphBuilder{}
	b.t("x", 6, 10)
	b.t("W", 10, 7)
	b.t("b", 7)
	b.op("fc", "LINEAR", []string{"x", "W", "b"}, b.t("h", 6, 7), "")
	b.op("relu", "RELU", []string{"h"}, b.t("y", 6, 7), "")
	gs = append(gs, b.graph(t, "linear_bias_relu"))

	b = &graphBuilder{}
	b.t("x", 2, 3, 7, 6)
	b.t("w", 5, 3, 3, 3)
	b.t("bc", 5)
	b.op("conv", "CONV2D", []string{"x", "w", "bc"}, b.t("c", 2, 5, 7, 6), `"kernel_shape":[3,3],"pads":[1,1,1,1]`)
	b.op("relu", "RELU", []string{"c"}, b.t("r", 2, 5, 7, 6), "")
	b.op("scale", "MUL", []string{"r", b.t("s", 1)}, b.t("y", 2, 5, 7, 6), "")
	gs = append(gs, b.graph(t, "conv_bias_relu_scale"))

	b = &graphBuilder{}
	b.t("x", 1, 4, 6, 6)
	b.t("w", 4, 1, 3, 3)
	b.t("bc", 4)
	b.op("dw", "CONV2D_DEPTHWISE", []string{"x", "w", "bc"}, b.t("c", 1, 4, 3, 3), `"kernel_shape":[3,3],"strides":[2,2],"pads":[1,1,1,1],"group":4`)
	b.op("shift", "ADD", []string{b.t("k", 4, 1, 1), "c"}, b.t("y", 1, 4, 3, 3), "")
	gs = append(gs, b.graph(t, "depthwise_bias_add"))

	b = &graphBuilder{}
	b.t("q", 2, 5, 8)
	b.t("k", 2, 6, 8)
	b.op("qk", "MATMUL", []string{"q", "k"}, b.t("sc", 2, 5, 6), `"transpose_b":true`)
	b.op("scale", "MUL", []string{"sc", b.t("s", 1)}, b.t("y", 2, 5, 6), "")
	gs = append(gs, b.graph(t, "qk_scale"))
	return gs
}

// TestFused lowers each GEMM with its chain on the drain path and checks the
// numbers against model.Evaluate and the prediction (EvaluateGEMMOp) against
// the simulator: latency and DRAM bytes exactly, energy within the bound.
func TestFused(t *testing.T) {
	ctx := context.Background()
	for _, cfgName := range []string{"minimal", "edge_ai", "datacenter", "../testdata/configs/tiny.json"} {
		cfg := testConfig(t, cfgName)
		for _, g := range fusedGraphs(t) {
			t.Run(cfg.Name+"/"+g.Name, func(t *testing.T) {
				op, chain := g.Operators[0], g.Operators[1:]
				sched := scheduleFor(t, g, cfg, "greedy")
				b, err := NewBuilder(g.Name, g, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.LowerFused(ctx, g, op, chain, sched[op.Name]); err != nil {
					t.Fatalf("lower: %v", err)
				}
				f, err := constraints.NewFused(g, op, chain)
				if err != nil {
					t.Fatal(err)
				}
				pred, err := constraints.EvaluateGEMMOp(ctx, g, op, sched[op.Name], f, cfg)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := verify.Program(ctx, b.Program(), cfg, verify.Options{Seed: 9})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Verified || !rep.Functional {
					t.Fatalf("not verified: %v", rep.Reasons)
				}
				sim := rep.Simulated
				if sim.LatencyCycles != pred.LatencyCycles || sim.DRAMBytes != pred.DRAMBytes {
					t.Errorf("simulated %d cycles, %d DRAM bytes; predicted %d, %d", sim.LatencyCycles, sim.DRAMBytes, pred.LatencyCycles, pred.DRAMBytes)
				}
				if d := math.Abs(pred.EnergyPJ-sim.EnergyPJ) / sim.EnergyPJ; d > verify.DefaultFidelity {
					t.Errorf("energy predicted %g, simulated %g", pred.EnergyPJ, sim.EnergyPJ)
				}
			})
		}
	}
}
