package graph

import (
	"context"
	"errors"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
)

// vectorKey names a residency of vector step step's operands: bit j of mask
// for input j, bit len(inputs) for the output.
type vectorKey struct {
	step int
	mask uint32
}

// vectorResident prices vector step i under every residency its eligible
// operands allow with the lowering's exact plan (constraints.PlanOpResident):
// the resident operands' homes packed from the start of L3, each inside one
// L3 tile (a striped home over whole tiles), and reserved. The job size of the real plan depends on where the
// memory planner puts the homes, so this is exact up to that placement; the
// chosen schedule is repriced with its real homes (reprice). A residency the
// plan cannot realize is left out (the estimate then stands, and reprice
// rejects the schedule if it is chosen).
func (pr *Problem) vectorResident(ctx context.Context, cfg *kpu.Config, i int, into map[vectorKey]Figures) error {
	st := &pr.Steps[i]
	n := len(st.In)
	var free uint32
	for j, id := range st.In {
		if pr.eligible(id) {
			free |= 1 << uint(j)
		}
	}
	if pr.eligible(st.Out) {
		free |= 1 << uint(n)
	}
	for mask := uint32(1); mask < 1<<uint(n+1); mask++ {
		if mask&^free != 0 {
			continue
		}
		homes := map[int]int64{}
		at := map[int]int64{} // storage id -> home
		var reserved []constraints.L3Range
		var next int64
		place := func(id int) int64 {
			if h, ok := at[id]; ok {
				return h
			}
			b := pr.reserve(id, cfg)
			if tb := cfg.L3TileBytes; next/tb != (next+b-1)/tb {
				next = (next + tb - 1) / tb * tb // a striped home starts a tile
			}
			at[id] = next
			reserved = append(reserved, constraints.L3Range{Start: next, End: next + b})
			next = (next + b + 63) / 64 * 64
			return at[id]
		}
		for j, id := range st.In {
			if mask&(1<<uint(j)) != 0 {
				homes[j] = place(id)
			}
		}
		if mask&(1<<uint(n)) != 0 {
			homes[len(st.Op.Inputs)] = place(st.Out)
		}
		if next > cfg.L3Bytes() {
			continue
		}
		plan, err := constraints.PlanOpResident(ctx, pr.Graph, st.Op, cfg, homes, reserved)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if constraints.IsInfeasible(err) || errors.Is(err, constraints.ErrResidentUnsupported) {
				continue
			}
			return err
		}
		c, err := plan.Cost(cfg)
		if err != nil {
			return err
		}
		into[vectorKey{i, mask}] = Figures{Cycles: c.Cycles, Energy: c.EnergyPJ, DRAM: c.Bytes.DRAM()}
	}
	return nil
}
