package graph

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// fixHomes moves every planned home that crosses an L3 tile boundary (an
// access never spans two L3 tiles, docs/graph-schedules.md section 6) to
// the lowest offset inside one tile that no resident tensor live at the
// same time uses, in order of First (a striped home, over whole tiles,
// stays); the lowering then keeps the homes as they are, so the exact
// prices below are computed with the final homes.
func fixHomes(s *model.GraphSchedule, cfg *kpu.Config) error {
	tb := cfg.L3TileBytes
	rs := s.Resident
	for _, r := range rs {
		if r.L3Offset < 0 {
			return fmt.Errorf("graph %s: resident tensor %q has no L3 home (%s)", s.Graph, r.Tensor, s.L3Plan)
		}
		if r.Bytes > tb && r.L3Offset%tb != 0 {
			return fmt.Errorf("graph %s: resident tensor %q: its striped home at %d does not start an L3 tile of %d B", s.Graph, r.Tensor, r.L3Offset, tb)
		}
	}
	if i := constraints.MoveHomesIntoTiles(rs, cfg); i >= 0 {
		r := &rs[i]
		return fmt.Errorf("graph %s: resident tensor %q (%d B): no place inside one L3 tile of %d B beside the tensors live with it", s.Graph, r.Tensor, r.Bytes, tb)
	}
	return nil
}

// reprice sets every step's predicted figures, and the total, to the exact
// cost of what the whole-graph lowering emits for schedule s with its
// planned homes: GEMM steps by constraints.GEMMStepResident, vector steps
// by constraints.PlanOpResident, steps that touch no resident tensor and
// run while none is live by the DRAM-only functions. An error means the
// lowering could not build some step (the caller then drops residency).
func reprice(ctx context.Context, g *model.Graph, s *model.GraphSchedule, cfg *kpu.Config) error {
	home := map[string]int64{}
	for _, r := range s.Resident {
		home[r.Tensor] = r.L3Offset
		for _, a := range r.Aliases {
			home[a] = r.L3Offset
		}
	}
	live := func(i int) []constraints.L3Range {
		var out []constraints.L3Range
		for _, r := range s.Resident {
			if r.First <= i && i <= r.Last {
				out = append(out, constraints.HomeRange(r, cfg))
			}
		}
		return out
	}
	byName := map[string]*model.Operator{}
	for _, op := range g.Operators {
		byName[op.Name] = op
	}
	var tot model.Figures
	for i := range s.Ops {
		st := &s.Ops[i]
		op := byName[st.Name]
		if op == nil {
			return fmt.Errorf("graph %s: step %q names no operator", s.Graph, st.Name)
		}
		if stepResident(st) || len(live(i)) > 0 {
			if err := marksHomes(op, st, byName, home); err != nil {
				return fmt.Errorf("graph %s: step %d: %w", s.Graph, i, err)
			}
		}
		f, err := exactStep(ctx, g, op, st, cfg, home, live(i), byName)
		if err != nil {
			return fmt.Errorf("graph %s: step %d (%s) with residency: %w", s.Graph, i, st.Name, err)
		}
		st.Predicted = f
		tot.LatencyCycles += f.LatencyCycles
		tot.EnergyPJ += f.EnergyPJ
		tot.DRAMBytes += f.DRAMBytes
	}
	s.Predicted = tot
	return nil
}

// marksHomes rejects a step the lowering cannot build: one that touches a
// tensor with an L3 home (among its operands, or its fused operators'
// operands) without marking it resident, since it would then go through
// DRAM, where the tensor never is. The intermediate outputs of a fused
// chain never leave the drain and are exempt; a RESHAPE moves no data.
func marksHomes(op *model.Operator, st *model.ScheduledOp, byName map[string]*model.Operator, home map[string]int64) error {
	if op.Type == model.OpReshape {
		return nil
	}
	marked := map[string]bool{}
	for _, n := range append(append([]string(nil), st.ResidentIn...), st.ResidentOut...) {
		marked[n] = true
	}
	if op.Type.IsGEMMLike() && len(op.Inputs) >= 2 {
		out := st.Output
		if out == "" {
			out = op.Outputs[0]
		}
		if st.ResidentA {
			marked[op.Inputs[0]] = true
		}
		if st.ResidentB {
			marked[op.Inputs[1]] = true
		}
		if st.ResidentC {
			marked[out] = true
		}
	}
	touched := append(append([]string(nil), op.Inputs...), op.Outputs...)
	inner := map[string]bool{}
	if len(st.FusedOps) > 0 {
		inner[op.Outputs[0]] = true
	}
	for j, n := range st.FusedOps {
		fo := byName[n]
		if fo == nil {
			continue
		}
		touched = append(append(touched, fo.Inputs...), fo.Outputs...)
		if j < len(st.FusedOps)-1 {
			inner[fo.Outputs[0]] = true
		}
	}
	for _, n := range touched {
		if _, ok := home[n]; ok && !marked[n] && !inner[n] {
			return fmt.Errorf("operator %s: tensor %q has an L3 home but the step does not read or write it there", op.Name, n)
		}
	}
	return nil
}

func stepResident(st *model.ScheduledOp) bool {
	return st.ResidentA || st.ResidentB || st.ResidentC || len(st.ResidentIn) > 0 || len(st.ResidentOut) > 0
}

func costFigures(c *constraints.Cost) model.Figures {
	return model.Figures{LatencyCycles: c.LatencyCycles, EnergyPJ: c.EnergyPJ, DRAMBytes: c.DRAMBytes}
}

// exactStep is the exact cost of one step (see reprice).
func exactStep(ctx context.Context, g *model.Graph, op *model.Operator, st *model.ScheduledOp, cfg *kpu.Config, home map[string]int64, live []constraints.L3Range, byName map[string]*model.Operator) (model.Figures, error) {
	res := stepResident(st)
	if !op.Type.IsGEMMLike() {
		if !res && len(live) == 0 {
			c, err := constraints.OperatorCost(ctx, g, op, nil, cfg)
			if err != nil {
				return model.Figures{}, err
			}
			return costFigures(c), nil
		}
		h := map[int]int64{}
		for _, n := range st.ResidentIn {
			for k, in := range op.Inputs {
				if in == n {
					h[k] = home[n]
				}
			}
		}
		if len(st.ResidentOut) > 0 {
			h[len(op.Inputs)] = home[op.Outputs[0]]
		}
		plan, err := constraints.PlanOpResident(ctx, g, op, cfg, h, live)
		if err != nil {
			return model.Figures{}, err
		}
		c, err := plan.Cost(cfg)
		if err != nil {
			return model.Figures{}, err
		}
		return model.Figures{LatencyCycles: c.Cycles, EnergyPJ: c.EnergyPJ, DRAMBytes: c.Bytes.DRAM()}, nil
	}
	if st.Mapping == nil {
		return model.Figures{}, fmt.Errorf("operator %s has no mapping", op.Name)
	}
	var chain []*model.Operator
	for _, n := range st.FusedOps {
		c := byName[n]
		if c == nil {
			return model.Figures{}, fmt.Errorf("fused operator %q names no operator", n)
		}
		chain = append(chain, c)
	}
	if !res && len(live) == 0 {
		var c *constraints.Cost
		var err error
		if len(chain) > 0 {
			f, ferr := constraints.NewFused(g, op, chain)
			if ferr != nil {
				return model.Figures{}, ferr
			}
			c, err = constraints.EvaluateGEMMOp(ctx, g, op, *st.Mapping, f, cfg)
		} else {
			c, err = constraints.OperatorCost(ctx, g, op, st.Mapping, cfg)
		}
		if err != nil {
			return model.Figures{}, err
		}
		return costFigures(c), nil
	}
	r := constraints.Residency{A: st.ResidentA, B: st.ResidentB, C: st.ResidentC, Reserved: live}
	shape, _, err := g.GEMM(op)
	if err != nil {
		return model.Figures{}, err
	}
	p, err := constraints.NewProblem(op.Name, shape)
	if err != nil {
		return model.Figures{}, err
	}
	if err := constraints.CheckResident(p, *st.Mapping, cfg, r); err != nil {
		return model.Figures{}, err
	}
	out := st.Output
	if out == "" {
		out = op.Outputs[0]
	}
	hc := int64(-1)
	if v, ok := home[out]; ok {
		hc = v
	}
	c, err := constraints.GEMMStepResident(ctx, g, op, chain, *st.Mapping, cfg, r, hc)
	if err != nil {
		return model.Figures{}, err
	}
	return costFigures(c), nil
}
