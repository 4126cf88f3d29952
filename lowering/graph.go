package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LowerGraph builds ONE program for the whole graph g on cfg: every operator
// in the graph's topological order, every tensor in DRAM at its own address
// (RESHAPE outputs alias their input), operators ordered only by the
// dependencies of the tensors they share and by the on-chip fence between
// consecutive operators (no global barrier). GEMM-like operators use their
// mapping from sched (MATMUL and LINEAR through the GEMM lowering, CONV2D as
// an implicit GEMM whose A blocks are gathered from the NCHW input by address
// generation); a bias is added by the vector engines on the drain path of
// the final C blocks (LowerFused), or by a separate in-place pass when it
// does not fit on chip beside the mapping's buffers; every other operator
// runs on the vector engines (constraints.PlanOp).
func LowerGraph(ctx context.Context, g *model.Graph, sched Schedule, cfg *kpu.Config) (*kpu.Program, error) {
	if g == nil {
		return nil, fmt.Errorf("lower graph: no graph")
	}
	b, err := NewBuilder(g.Name, g, cfg)
	if err != nil {
		return nil, err
	}
	for _, op := range g.Operators {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lower graph %q: %w", g.Name, err)
		}
		if err := b.LowerOp(ctx, g, op, sched); err != nil {
			return nil, fmt.Errorf("lower graph %q: %w", g.Name, err)
		}
	}
	return b.Program(), nil
}

// LowerOp appends one operator of g (any supported type); GEMM-like ones
// take their mapping from sched.
func (bl *Builder) LowerOp(ctx context.Context, g *model.Graph, op *model.Operator, sched Schedule) error {
	if !op.Type.IsGEMMLike() {
		if err := bl.LowerVectorOp(ctx, g, op); err != nil {
			return fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, err)
		}
		return nil
	}
	m, ok := sched[op.Name]
	if !ok {
		return fmt.Errorf("operator %q (%s) has no mapping in the schedule", op.Name, op.Type)
	}
	if len(op.Inputs) == 3 {
		// the bias is added on the drain path of the final C blocks, or by
		// a separate pass when it does not fit beside the mapping's buffers
		f, err := constraints.BiasOnDrain(g, op, m, bl.cfg)
		if err == nil {
			return bl.lowerGEMMOp(ctx, g, op, m, f)
		}
		if !constraints.IsInfeasible(err) {
			return err
		}
		if err := bl.lowerGEMMOp(ctx, g, op, m, nil); err != nil {
			return err
		}
		plan, err := constraints.PlanBias(ctx, g, op, bl.cfg)
		if err != nil {
			return err
		}
		if err := bl.LowerPlan(g, plan); err != nil {
			return fmt.Errorf("operator %q bias: %w", op.Name, err)
		}
		return nil
	}
	switch op.Type {
	case model.OpMatMul, model.OpLinear:
		return bl.LowerGEMM(ctx, g, op, m)
	}
	return bl.LowerConv(ctx, g, op, m)
}
