package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// onlyPlainGEMMs reports whether every operator of g is a MATMUL or LINEAR,
// the graphs the per-GEMM comparison handles; any other graph is compared
// as a whole (compareGraphEngines).
func onlyPlainGEMMs(g *model.Graph) bool {
	for _, op := range g.Operators {
		if op.Type != model.OpMatMul && op.Type != model.OpLinear {
			return false
		}
	}
	return true
}

// compareGraphEngines are the whole-graph schedules compare shows: the joint
// optimum (mappings and fusion chosen together; tensors through DRAM so that
// the lowering emits exactly what was predicted), and the layerwise
// baselines with each per-operator engine.
var compareGraphEngines = []string{"joint", "layerwise", "kpusim", "greedy"}

// scheduleGraphWith schedules the whole graph g with one of
// compareGraphEngines, lowers it to one program and verifies the program
// against the schedule's prediction.
func scheduleGraphWith(ctx context.Context, g *model.Graph, cfg *kpu.Config, engine string, obj constraints.Objective, limit time.Duration, vopts verify.Options) (*scheduled, error) {
	var gs *model.GraphSchedule
	var err error
	switch engine {
	case "joint":
		gs, err = graph.Solve(ctx, g, cfg, graph.Options{Mode: graph.ModeOptimal, Objective: obj, SeedTime: limit, NoResidency: true})
	case "layerwise":
		gs, err = search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "optimal", Objective: obj, OpTimeLimit: limit})
	default:
		gs, err = search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: engine, Objective: obj, OpTimeLimit: limit})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", engine, err)
	}
	sc := &scheduled{Engine: engine, Status: gs.Status, Mappings: lowering.ScheduleOf(gs)}
	sc.Predicted = verify.Figures{LatencyCycles: gs.Predicted.LatencyCycles, DRAMBytes: gs.Predicted.DRAMBytes, EnergyPJ: gs.Predicted.EnergyPJ}
	prog, err := lowering.LowerGraphSchedule(ctx, g, gs, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", engine, err)
	}
	return sc, sc.verifyProgram(ctx, prog, cfg, vopts)
}
