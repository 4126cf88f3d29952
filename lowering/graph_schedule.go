package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
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

// LowerGraphSchedule lowers a graph schedule into one program of g, with the
// operators in the schedule's order: a step with FusedOps runs them on its
// GEMM's drain path (LowerFused), every other step as LowerOp does. A
// resident tensor lives in L3 at its planned home over its lifetime and
// never touches DRAM (docs/graph-schedules.md, "Residency"): its producer
// writes the home, its consumers read it, and every step's own L3 buffers
// avoid the homes of the tensors live during it.
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

// stepResident reports whether step st keeps an operand in L3.
func stepResident(st *model.ScheduledOp) bool {
	return st.ResidentA || st.ResidentB || st.ResidentC || len(st.ResidentIn) > 0 || len(st.ResidentOut) > 0
}

// LowerGraphScheduleWith is LowerGraphSchedule with options.
func LowerGraphScheduleWith(ctx context.Context, g *model.Graph, gs *model.GraphSchedule, cfg *kpu.Config, opts ScheduleOptions) (*kpu.Program, error) {
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
	var homes *residentHomes
	if !opts.ResidentInDRAM {
		if homes, err = newResidentHomes(gs, cfg); err != nil {
			return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
		}
		b.fullFence = len(gs.Resident) > 0
	}
	steps := make([][2]int, len(gs.Ops)) // command index range of each step
	for i := range gs.Ops {
		steps[i][0] = len(b.prog.Commands)
		if i > 0 {
			steps[i-1][1] = steps[i][0]
		}
		st := &gs.Ops[i]
		op := byName[st.Name]
		if op == nil {
			return nil, fmt.Errorf("lower schedule of %q: step %q names no operator", g.Name, st.Name)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
		}
		if homes != nil && (stepResident(st) || len(homes.live(i)) > 0) {
			if err := b.lowerResidentStep(ctx, g, op, st, byName, homes, i); err != nil {
				return nil, fmt.Errorf("lower schedule of %q: step %d: %w", g.Name, i, err)
			}
			continue
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
	if n := len(steps); n > 0 {
		steps[n-1][1] = len(b.prog.Commands)
	}
	if homes != nil {
		if err := b.stripeHomes(homes, steps); err != nil {
			return nil, fmt.Errorf("lower schedule of %q: %w", g.Name, err)
		}
	}
	return b.Program(), nil
}

// lowerResidentStep lowers step i of a schedule with resident tensors: its
// resident operands read from (written to) their homes, its own L3 buffers
// placed around the homes live during the step.
func (bl *Builder) lowerResidentStep(ctx context.Context, g *model.Graph, op *model.Operator, st *model.ScheduledOp, byName map[string]*model.Operator, homes *residentHomes, i int) error {
	live := homes.live(i)
	if err := checkStepHomes(op, st, byName, homes); err != nil {
		return err
	}
	if !op.Type.IsGEMMLike() {
		if st.Mapping != nil || len(st.FusedOps) > 0 {
			return fmt.Errorf("step %q (%s) has a GEMM mapping or fused operators", st.Name, op.Type)
		}
		res := map[int]int64{}
		for _, n := range st.ResidentIn {
			for k, in := range op.Inputs {
				if in == n {
					if res[k] = homes.home(n); res[k] < 0 {
						return fmt.Errorf("operator %q: input %q is marked resident but has no L3 home", op.Name, n)
					}
				}
			}
		}
		for _, n := range st.ResidentOut {
			if n != op.Outputs[0] {
				return fmt.Errorf("operator %q: resident output %q is not its output %q", op.Name, n, op.Outputs[0])
			}
			k := len(op.Inputs)
			if res[k] = homes.home(n); res[k] < 0 {
				return fmt.Errorf("operator %q: output %q is marked resident but has no L3 home", op.Name, n)
			}
		}
		if err := bl.lowerPlanResident(ctx, g, op, res, live); err != nil {
			return fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, err)
		}
		return nil
	}
	if st.Mapping == nil {
		return fmt.Errorf("operator %q (%s) has no mapping in the schedule", op.Name, op.Type)
	}
	out := st.Output
	if out == "" {
		out = op.Outputs[0]
	}
	res := &gemmResidency{r: constraints.Residency{A: st.ResidentA, B: st.ResidentB, C: st.ResidentC, Reserved: live}, home: [3]int64{-1, -1, -1}}
	names := [3]string{op.Inputs[0], op.Inputs[1], out}
	flags := [3]bool{st.ResidentA, st.ResidentB, st.ResidentC}
	for x := range names {
		if !flags[x] {
			continue
		}
		res.name[x] = names[x]
		if res.home[x] = homes.home(names[x]); res.home[x] < 0 {
			return fmt.Errorf("operator %q: operand %q is marked resident but has no L3 home", op.Name, names[x])
		}
	}
	var f *constraints.Fused
	var err error
	if len(st.FusedOps) > 0 {
		chain := make([]*model.Operator, len(st.FusedOps))
		for j, n := range st.FusedOps {
			if chain[j] = byName[n]; chain[j] == nil {
				return fmt.Errorf("step %q fuses %q, which names no operator", st.Name, n)
			}
		}
		if f, err = constraints.NewFused(g, op, chain); err != nil {
			return err
		}
	} else if len(op.Inputs) == 3 {
		// the bias on the drain when it fits beside the buffers, else a
		// separate pass, in place on the output (in its home if resident)
		f, err = constraints.BiasOnDrainResident(g, op, *st.Mapping, bl.cfg, res.r)
		if err != nil && !constraints.IsInfeasible(err) {
			return err
		}
		if err != nil {
			if err := bl.lowerGEMMOpRes(ctx, g, op, *st.Mapping, nil, res); err != nil {
				return err
			}
			plan, err := constraints.BiasPlanResident(ctx, g, op, bl.cfg, res.r, res.home[constraints.OpC])
			if err != nil {
				return fmt.Errorf("operator %q bias: %w", op.Name, err)
			}
			homes := map[int]int64{}
			if res.r.C {
				homes[0], homes[2] = res.home[constraints.OpC], res.home[constraints.OpC]
			}
			if err := bl.emitResidentPlan(g, plan, homes); err != nil {
				return fmt.Errorf("operator %q bias: %w", op.Name, err)
			}
			return nil
		}
	}
	return bl.lowerGEMMOpRes(ctx, g, op, *st.Mapping, f, res)
}

// checkStepHomes rejects a step that would read or write a resident tensor
// through DRAM (where it never is): every operand of the step with an L3
// home must be marked resident, and a fused constant cannot be resident.
// (Resident tensors still get DRAM addresses in the program, so that views
// and placements stay uniform; no command touches them.)
func checkStepHomes(op *model.Operator, st *model.ScheduledOp, byName map[string]*model.Operator, homes *residentHomes) error {
	if op.Type == model.OpReshape {
		return nil // a view: no data moves
	}
	marked := map[string]bool{}
	for _, n := range st.ResidentIn {
		marked[n] = true
	}
	for _, n := range st.ResidentOut {
		marked[n] = true
	}
	if op.Type.IsGEMMLike() {
		out := st.Output
		if out == "" {
			out = op.Outputs[0]
		}
		for j, n := range []string{op.Inputs[0], op.Inputs[1], out} {
			marked[n] = marked[n] || [3]bool{st.ResidentA, st.ResidentB, st.ResidentC}[j]
		}
	}
	names := append(append([]string(nil), op.Inputs...), op.Outputs...)
	for _, f := range st.FusedOps {
		if fo := byName[f]; fo != nil {
			names = append(append(names, fo.Inputs...), fo.Outputs...)
		}
	}
	inner := map[string]bool{op.Outputs[0]: len(st.FusedOps) > 0}
	for j, f := range st.FusedOps {
		if fo := byName[f]; fo != nil && j < len(st.FusedOps)-1 {
			inner[fo.Outputs[0]] = true
		}
	}
	for _, n := range names {
		if homes.home(n) >= 0 && !marked[n] && !inner[n] {
			return fmt.Errorf("operator %q: tensor %q lives in L3 but the step does not mark it resident (it would go through DRAM)", op.Name, n)
		}
	}
	return nil
}
