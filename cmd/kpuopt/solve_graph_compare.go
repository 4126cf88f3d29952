package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// jointEngine names the joint whole-graph schedule in `compare`.
const jointEngine = "joint"

// scheduleJoint is the joint whole-graph schedule as a row of `compare`:
// mappings and fusion chosen together (search/graph, residency off, since
// the lowering does not emit resident tensors yet), lowered to one program
// and verified like the other rows. limit bounds each per-operator seed
// search.
func scheduleJoint(ctx context.Context, g *model.Graph, cfg *kpu.Config, obj constraints.Objective, limit time.Duration, vopts verify.Options) (*scheduled, error) {
	gs, err := graph.Solve(ctx, g, cfg, graph.Options{Mode: graph.ModeOptimal, Objective: obj, NoResidency: true, SeedTime: limit})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jointEngine, err)
	}
	sc := &scheduled{Engine: jointEngine, Status: gs.Status, Mappings: lowering.ScheduleOf(gs),
		Predicted: verify.Figures{LatencyCycles: gs.Predicted.LatencyCycles, DRAMBytes: gs.Predicted.DRAMBytes, EnergyPJ: gs.Predicted.EnergyPJ}}
	prog, err := lowering.LowerGraphSchedule(ctx, g, gs, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jointEngine, err)
	}
	sc.Program = prog
	pred := sc.Predicted
	vopts.Predicted = &pred
	rep, err := verify.Program(ctx, prog, cfg, vopts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jointEngine, err)
	}
	sc.Report = rep
	sc.Simulated = rep.Simulated
	sc.Verified = rep.Verified
	sc.Reasons = rep.Reasons
	return sc, nil
}
