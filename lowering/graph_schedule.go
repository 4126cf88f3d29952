package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// ScheduleOf collects the GEMM mappings of a graph schedule.
func ScheduleOf(gs *model.GraphSchedule) Schedule {
	s := Schedule{}
	for _, op := range gs.Ops {
		if op.Mapping != nil {
			s[op.Name] = *op.Mapping
		}
	}
	return s
}

// LowerGraphSchedule lowers a graph schedule that keeps every tensor in DRAM
// into one program of g, with the operators in the schedule's order: a step
// with FusedOps runs them on its GEMM's drain path (LowerFused), every other
// step as LowerOp does. L3 residency is not lowered here: a schedule with
// resident tensors or operands is rejected.
func LowerGraphSchedule(ctx context.Context, g *model.Graph, gs *model.GraphSchedule, cfg *kpu.Config) (*kpu.Program, error) {
	return LowerGraphScheduleWith(ctx, g, gs, cfg, ScheduleOptions{})
}

// ScheduleOptions extend LowerGraphSchedule.
type ScheduleOptions struct {
	// ResidentInDRAM lowers a schedule with L3-resident tensors anyway,
	// keeping those tensors in DRAM: the program computes the same numbers
	// with the schedule's mappings and fusion, and its latency is an upper
	// bound of what the schedule predicts (the round trips it saves are
	// still made).
	ResidentInDRAM bool
}

// LowerGraphScheduleWith is LowerGraphSchedule with options.
func LowerGraphScheduleWith(ctx context.Context, g *model.Graph, gs *model.GraphSchedule, cfg *kpu.Config, opts ScheduleOptions) (*kpu.Program, error) {
	if len(gs.Resident) > 0 && !opts.ResidentInDRAM {
		return nil, fmt.Errorf("lower schedule of %q: %d L3-resident tensors: residency is not lowered by LowerGraphSchedule", g.Name, len(gs.Resident))
	}
	byName := map[string]*model.Operator{}
	for _, op := range g.Operators {
		byName[op.Name] = op
	}
	fused := 0
	for _, st := range gs.Ops {
		fused += len(st.FusedOps)
	}
	if len(gs.Ops)+fused != len(g.Operators) {
		return nil, fmt.Errorf("lower schedule of %q: %d steps and %d fused operators for %d operators", g.Name, len(gs.Ops), fused, len(g.Operators))
	}
	b, err := NewBuilder(g.Name, g, cfg)
	if err != nil {
		return nil, err
	}
	sched := ScheduleOf(gs)
	for _, st := range gs.Ops {
		if !opts.ResidentInDRAM && (st.ResidentA || st.ResidentB || st.ResidentC || len(st.ResidentIn) > 0 || len(st.ResidentOut) > 0) {
			return nil, fmt.Errorf("lower schedule of %q: step %q keeps tensors in L3: residency is not lowered by LowerGraphSchedule", g.Name, st.Name)
		}
		op := byName[st.Name]
		if op == nil {
			return nil, fmt.Errorf("lower schedule of %q: step %q names no operator", g.Name, st.Name)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
		}
		if len(st.FusedOps) > 0 {
			if st.Mapping == nil {
				return nil, fmt.Errorf("lower schedule of %q: step %q fuses %v but has no mapping", g.Name, st.Name, st.FusedOps)
			}
			chain := make([]*model.Operator, len(st.FusedOps))
			for i, n := range st.FusedOps {
				if chain[i] = byName[n]; chain[i] == nil {
					return nil, fmt.Errorf("lower schedule of %q: step %q fuses %q, which names no operator", g.Name, st.Name, n)
				}
			}
			if err := b.LowerFused(ctx, g, op, chain, *st.Mapping); err != nil {
				return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
			}
			continue
		}
		if err := b.LowerOp(ctx, g, op, sched); err != nil {
			return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
		}
	}
	return b.Program(), nil
}
