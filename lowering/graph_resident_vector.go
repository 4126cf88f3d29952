package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// lowerPlanResident appends vector operator op with the operands of homes
// (operand index -> flat L3 home) resident in L3 and its staging clear of
// the reserved ranges: the stream of constraints.PlanOpResident, whose
// non-resident operands are placed in DRAM as LowerPlan does. A command
// reading a home depends on the home's last writers; one writing a home is
// recorded as the tensor's writer.
func (bl *Builder) lowerPlanResident(ctx context.Context, g *model.Graph, op *model.Operator, homes map[int]int64, reserved []constraints.L3Range) error {
	plan, err := constraints.PlanOpResident(ctx, g, op, bl.cfg, homes, reserved)
	if err != nil {
		return err
	}
	return bl.emitResidentPlan(g, plan, homes)
}

// emitResidentPlan appends a plan of constraints.ResidentPlan whose operands
// in homes are resident.
func (bl *Builder) emitResidentPlan(g *model.Graph, plan *constraints.OpPlan, homes map[int]int64) error {
	if plan.Alias {
		return bl.LowerPlan(g, plan)
	}
	inputs := graphInputs(g)
	place := make([]kpu.TensorPlacement, len(plan.Operands))
	for i, name := range plan.Operands {
		t := g.Tensors[name]
		if t == nil {
			return fmt.Errorf("operator %s: tensor %q is not declared", plan.Op, name)
		}
		pl, err := bl.PlaceTensor(name, t.Shape, t.DType, inputs[name])
		if err != nil {
			return fmt.Errorf("operator %s: %w", plan.Op, err)
		}
		place[i] = pl
	}
	return bl.emitPlanCmds(plan, place)
}
